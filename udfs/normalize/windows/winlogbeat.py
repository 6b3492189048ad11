"""Winlogbeat / Elastic Agent documents: ``winlog.*`` next to ECS ``event``/``host``/``@timestamp``.

{"@timestamp": "2024-05-01T12:00:00.123Z", "event": {"code": "4624", "provider": "..."},
 "host": {"name": "ws-01"},
 "winlog": {"channel": "Security", "event_id": "4624", "provider_name": "Microsoft-Windows-Security-Auditing",
            "computer_name": "ws-01.corp.example", "record_id": 1535, "user": {"identifier": "S-1-5-18"},
            "event_data": {"TargetUserName": "alice", "LogonType": "3", ...}}}
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import NormalizeError
from udfs.normalize.fields import opt_obj, opt_str, req_obj, soft_int, soft_str
from udfs.normalize.timeparse import to_epoch_ms
from udfs.normalize.windows.mapping import to_draft
from udfs.normalize.windows.record import WinRecord, event_id_of, stamp_system

FORMAT = "winlogbeat"
PARSER_VERSION = "winlogbeat/1"


def looks_like(doc: dict[str, Any]) -> bool:
    winlog = doc.get("winlog")
    return isinstance(winlog, dict) and ("event_id" in winlog or "channel" in winlog)


def _flat_user_data(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update({k: v for k, v in value.items() if not k.startswith(("@", "#", "xml_"))})
        elif key != "xml_name":
            out[key] = value
    return out


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    winlog = req_obj(doc, "winlog", "winlog", FORMAT)
    ecs_event = opt_obj(doc, "event", "event", FORMAT)
    raw_id = winlog.get("event_id", ecs_event.get("code"))
    event_id = event_id_of(raw_id, "winlog.event_id", FORMAT)
    stamp = doc.get("@timestamp")
    if stamp is None:
        raise NormalizeError("missing_field", "@timestamp: required, missing", source_format=FORMAT)
    time_ms = to_epoch_ms(stamp, "@timestamp")
    channel = opt_str(winlog, "channel", "winlog.channel", FORMAT)
    provider = opt_str(winlog, "provider_name", "winlog.provider_name", FORMAT) or soft_str(ecs_event.get("provider"))
    computer = opt_str(winlog, "computer_name", "winlog.computer_name", FORMAT) or soft_str(
        opt_obj(doc, "host", "host", FORMAT).get("name")
    )
    user = opt_obj(winlog, "user", "winlog.user", FORMAT)
    data = dict(opt_obj(winlog, "event_data", "winlog.event_data", FORMAT))
    data.update(_flat_user_data(opt_obj(winlog, "user_data", "winlog.user_data", FORMAT)))

    # Every vendor field stays: the document without the (now flattened) data, then the data fields flat.
    original: dict[str, Any] = {k: v for k, v in doc.items() if k != "winlog"}
    original["winlog"] = {k: v for k, v in winlog.items() if k not in ("event_data", "user_data")}
    original.update(data)
    stamp_system(original, data, event_id, channel, provider, computer)
    rec = WinRecord(
        fmt=FORMAT,
        parser_version=PARSER_VERSION,
        event_id=event_id,
        time_ms=time_ms,
        channel=channel,
        provider=provider,
        computer=computer,
        record_id=soft_int(winlog.get("record_id")),
        user_sid=soft_str(user.get("identifier")),
        data=data,
        original=original,
    )
    return to_draft(rec, raw_sha256=raw_sha256, origin=origin)
