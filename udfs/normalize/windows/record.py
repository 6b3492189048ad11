"""One Windows event, independent of how it was wrapped (EVTX JSON, Winlogbeat, NXLog flat JSON).

Each wrapping module only fills a :class:`WinRecord`; :mod:`udfs.normalize.windows.mapping` turns it
into an event draft, so an event id is mapped once for all three wrappings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from udfs.normalize.errors import NormalizeError, field_error


@dataclass(slots=True)
class WinRecord:
    fmt: str
    parser_version: str
    event_id: int
    time_ms: int
    channel: str | None
    provider: str | None
    computer: str | None
    record_id: int | None
    user_sid: str | None
    data: dict[str, Any]
    """EventData / UserData fields, flat, with their vendor names (``Image``, ``TargetUserName``)."""
    original: dict[str, Any]
    """Everything the vendor sent, flat where Sigma expects it (data fields + EventID, Channel...)."""


def event_id_of(value: Any, path: str, fmt: str) -> int:
    """EventID as int; EVTX writes it as a number, a string, or ``{"#text": n, "#attributes": ...}``."""
    if isinstance(value, dict):
        value = value.get("#text")
    if value is None:
        raise NormalizeError("missing_field", f"{path}: required, missing", source_format=fmt)
    if isinstance(value, bool):
        raise field_error(path, "an event id 0..65535", value, source_format=fmt)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= 65535:
        raise field_error(path, "an event id 0..65535", value, source_format=fmt)
    return value
