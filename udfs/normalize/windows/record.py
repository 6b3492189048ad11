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


def stamp_system(
    original: dict[str, Any],
    data: dict[str, Any],
    event_id: int,
    channel: str | None,
    provider: str | None,
    computer: str | None,
) -> None:
    """Put the record's own ``EventID``, ``Channel``, ``Provider_Name`` and ``Computer`` in ``original``.

    Rules select a record on these four, so they always describe the record, whatever the wrapping
    called them. Except where the event's own data has a field of the same name: event 104's
    ``UserData/LogFileCleared/Channel`` names the log that was cleared, and rules read it as ``Channel``
    (``win_system_susp_eventlog_cleared``), so a data field is never overwritten by a System one. The
    record's channel and provider stay in ``event.dataset`` and ``event.provider``. ``EventID`` is always
    the System's: an event's identity is not data.
    """
    original["EventID"] = event_id
    if "Channel" not in data:
        original["Channel"] = channel
    if "Provider_Name" not in data:
        original["Provider_Name"] = provider
    if "Computer" not in data:
        original["Computer"] = computer
