"""Windows events as rows of Microsoft Sentinel / Log Analytics tables: the fourth Windows wrapping.

- ``SecurityEvent`` (Security channel, Log Analytics agent or AMA): event-data fields as columns
  (``SubjectUserName``, ``NewProcessName``, ``CommandLine``...) with the manifest's names, and with
  AMA the whole data as XML in ``EventData``; ``Channel``, ``EventSourceName``, ``Computer``.
- ``Event`` (any other channel; Sysmon arrives here): ``EventLog`` (the channel), ``Source`` (the
  provider), ``EventID``, ``Computer``, and the data only as text in ``EventData`` (XML or JSON).
- ``WindowsEvent`` (AMA's forwarded events): ``Channel``, ``Provider``, ``EventID`` and the data as
  an object (or its JSON text) in ``Data``.

The row's columns stay in ``original`` (as NXLog's flat fields do), the data fields over them; the
data text is expanded into its fields and not kept as text. The time is the row's ``TimeGenerated``
(read by :mod:`udfs.normalize.sentinel`).
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.fields import soft_int, soft_str
from udfs.normalize.windows.eventdata import expand
from udfs.normalize.windows.mapping import to_draft
from udfs.normalize.windows.record import WinRecord, event_id_of, stamp_system

FORMAT = "windows_sentinel"
PARSER_VERSION = "windows_sentinel/1"

# table -> (channel column, provider column, data column)
TABLES: dict[str, tuple[str, str, str]] = {
    "SecurityEvent": ("Channel", "EventSourceName", "EventData"),
    "Event": ("EventLog", "Source", "EventData"),
    "WindowsEvent": ("Channel", "Provider", "Data"),
}
# SecurityEvent's channel when a row leaves the column empty (it only ever holds Security events).
_DEFAULT_CHANNEL = {"SecurityEvent": "Security"}


def parse_row(row: dict[str, Any], table: str, time_ms: int, *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    channel_key, provider_key, data_key = TABLES[table]
    event_id = event_id_of(row.get("EventID"), "EventID", FORMAT)
    # Log Analytics exports every column of the table; an empty one is a field the event does not have.
    fields: dict[str, Any] = {k: v for k, v in row.items() if v is not None and v != "" and k != data_key}
    packed = row.get(data_key)
    if packed not in (None, ""):
        fields.update(expand(packed, data_key, FORMAT))
    channel = soft_str(row.get(channel_key)) or _DEFAULT_CHANNEL.get(table)
    provider = soft_str(row.get(provider_key))
    computer = soft_str(row.get("Computer"))
    # One dict is both the data the mapping reads and the original rules match, as for NXLog's rows.
    stamp_system(fields, fields, event_id, channel, provider, computer)
    rec = WinRecord(
        fmt=FORMAT,
        parser_version=PARSER_VERSION,
        event_id=event_id,
        time_ms=time_ms,
        channel=channel,
        provider=provider,
        computer=computer,
        record_id=soft_int(row.get("EventRecordId")),
        user_sid=soft_str(row.get("SystemUserId")),
        data=fields,
        original=fields,
    )
    out = to_draft(rec, raw_sha256=raw_sha256, origin=origin)
    if out.get("id") is None:
        out["id"] = soft_str(row.get("EventOriginId")) or soft_str(row.get("_ItemId"))
    return out
