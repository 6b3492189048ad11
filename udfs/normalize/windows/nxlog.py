"""Flat Windows JSON as NXLog ``im_msvistalog`` (and HELK / Security-Datasets) ship it.

System and event data share one level:

    {"EventID": 4688, "Channel": "Security", "Hostname": "ws-01.corp.example",
     "SourceName": "Microsoft-Windows-Security-Auditing", "EventTime": "2024-05-01 12:00:00",
     "@timestamp": "2024-05-01T12:00:00.123Z", "NewProcessName": "C:\\\\...", ...}
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import first_present
from udfs.normalize.fields import opt_str, soft_int, soft_str
from udfs.normalize.timeparse import to_epoch_ms
from udfs.normalize.windows.mapping import to_draft
from udfs.normalize.windows.record import WinRecord, event_id_of

FORMAT = "windows_flat_json"
PARSER_VERSION = "windows_flat_json/1"

# Most exact first: TimeCreated is the record's own time; UtcTime is Sysmon's; @timestamp is the
# shipper's (seconds later); EventTime is NXLog's rendering in the collector's local zone.
_TIME_KEYS = ("TimeCreated", "UtcTime", "@timestamp", "EventTime", "EventReceivedTime")


def looks_like(doc: dict[str, Any]) -> bool:
    return (
        "EventID" in doc
        and ("Channel" in doc or "SourceName" in doc or "ProviderName" in doc)
        and ("Hostname" in doc or "Computer" in doc)
    )


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    event_id = event_id_of(doc.get("EventID"), "EventID", FORMAT)
    key = first_present(doc, _TIME_KEYS, source_format=FORMAT)
    time_ms = to_epoch_ms(doc[key], key)
    channel = opt_str(doc, "Channel", "Channel", FORMAT)
    provider = (
        opt_str(doc, "SourceName", "SourceName", FORMAT)
        or opt_str(doc, "ProviderName", "ProviderName", FORMAT)
        or opt_str(doc, "Provider_Name", "Provider_Name", FORMAT)
    )
    computer = opt_str(doc, "Hostname", "Hostname", FORMAT) or opt_str(doc, "Computer", "Computer", FORMAT)
    # The document already is flat vendor data; add the names Sigma selects on where NXLog differs.
    doc["EventID"] = event_id
    doc.setdefault("Provider_Name", provider)
    doc.setdefault("Computer", computer)
    rec = WinRecord(
        fmt=FORMAT,
        parser_version=PARSER_VERSION,
        event_id=event_id,
        time_ms=time_ms,
        channel=channel,
        provider=provider,
        computer=computer,
        record_id=soft_int(doc.get("RecordNumber", doc.get("EventRecordID"))),
        user_sid=soft_str(doc.get("UserID")),
        data=doc,
        original=doc,
    )
    return to_draft(rec, raw_sha256=raw_sha256, origin=origin)
