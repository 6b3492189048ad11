"""The formats ttpflow can parse, and how a record's format is chosen (fixed per topic or detected).

A JSON format provides ``looks_like(doc) -> bool`` and ``parse(doc, *, raw_sha256, origin)`` returning
an :class:`Event` or an event draft dict (validated by :func:`udfs.normalize.draft.finish`). A text
format (auditd lines, syslog) provides ``looks_like_text(text) -> bool`` and
``parse_text(text, *, raw_sha256, origin)``. Detection order matters: most specific first, so the
generic shapes (NXLog flat Windows JSON, the seed's plain JSON) come last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from schemas.event import Event, Origin
from udfs.normalize import (
    auditd,
    auditd_json,
    cloudtrail,
    entra,
    m365,
    okta,
    plain_json,
    sentinel,
    suricata,
    sysmon_linux,
    zeek,
)
from udfs.normalize.windows import evtx, nxlog, winlogbeat

Parsed = Event | dict[str, Any]


@dataclass(frozen=True)
class JsonFormat:
    name: str
    parser_version: str
    looks_like: Callable[[dict[str, Any]], bool]
    parse: Callable[..., Parsed]


@dataclass(frozen=True)
class TextFormat:
    name: str
    parser_version: str
    looks_like_text: Callable[[str], bool]
    parse_text: Callable[..., Parsed]


def _json(module: ModuleType) -> JsonFormat:
    return JsonFormat(module.FORMAT, module.PARSER_VERSION, module.looks_like, module.parse)


def _textfmt(module: ModuleType) -> TextFormat:
    return TextFormat(module.FORMAT, module.PARSER_VERSION, module.looks_like_text, module.parse_text)


JSON_FORMATS: list[JsonFormat] = [
    _json(evtx),  # {"Event": {"System": ...}}
    _json(winlogbeat),  # {"winlog": {...}}
    _json(okta),  # eventType + published + actor
    _json(entra),  # Azure Monitor diagnostic record: category + operationName + properties
    _json(cloudtrail),  # eventSource + eventName + eventTime
    _json(suricata),  # event_type + timestamp
    _json(zeek),  # ts + uid/fuid/_path/id.orig_h
    _json(auditd_json),  # Laurel / go-audit renderings, one audit record per object
    _json(sentinel),  # Log Analytics rows: Type (the table) + TimeGenerated; before NXLog (SecurityEvent has EventID)
    _json(m365),  # Office 365 Management Activity records: Operation + CreationTime + Workload
    _json(nxlog),  # flat: EventID + Channel/SourceName + Hostname/Computer
    _json(plain_json),  # the seed's flat form: event_id + timestamp
]
TEXT_FORMATS: list[TextFormat] = [
    _textfmt(sysmon_linux),  # syslog line carrying <Event>...</Event>
    _textfmt(auditd),  # type=... msg=audit(...)
]


def names() -> list[str]:
    return [f.name for f in (*JSON_FORMATS, *TEXT_FORMATS)]


def by_name(name: str) -> JsonFormat | TextFormat:
    for fmt in (*JSON_FORMATS, *TEXT_FORMATS):
        if fmt.name == name:
            return fmt
    known = ", ".join(sorted(names()))
    raise ValueError(f"unknown format {name!r}; known formats: {known}")


__all__ = ["JSON_FORMATS", "TEXT_FORMATS", "JsonFormat", "Origin", "TextFormat", "by_name", "names"]
