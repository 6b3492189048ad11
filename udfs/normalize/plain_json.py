"""The plain JSON form: one flat object per event, as a home-grown sensor or EDR export emits.

{"event_id": "e1", "timestamp": "2024-05-01T12:00:00Z", "host": "ws-01", "user": "alice",
 "process_name": "powershell.exe", "src_ip": "10.0.0.5", "dest_ip": "203.0.113.7",
 "asset_criticality": 8, "attck_technique": ["T1055"]}
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.assets import criticality_value
from schemas.event import Endpoint, Event, Host, Origin, Process, Threat, User
from udfs.normalize.errors import NormalizeError, field_error, require
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "plain_json"
PARSER_VERSION = "plain_json/1"
REQUIRED = ("event_id", "timestamp")


def looks_like(doc: dict[str, Any]) -> bool:
    return "event_id" in doc and "timestamp" in doc


def _opt_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise field_error(key, "a string", value, source_format=FORMAT)
    return value


def _techniques(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise field_error("attck_technique", "a string or a list of strings", value, source_format=FORMAT)


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> Event:
    require(doc, ((key,) for key in REQUIRED), source_format=FORMAT)
    event_id = doc["event_id"]
    if not isinstance(event_id, str | int) or isinstance(event_id, bool):
        raise field_error("event_id", "a string or integer", event_id, source_format=FORMAT)
    ts = to_epoch_ms(doc["timestamp"], "timestamp")
    process_name = _opt_str(doc, "process_name")
    src_ip, dest_ip = _opt_str(doc, "src_ip"), _opt_str(doc, "dest_ip")
    host_name, user_name = _opt_str(doc, "host"), _opt_str(doc, "user")
    criticality = doc.get("asset_criticality")
    if criticality is not None:  # 0..10, or a word: low / medium / high / critical (schemas.assets)
        try:
            criticality = criticality_value(criticality)
        except ValueError:
            raise field_error("asset_criticality", "0..10 or low, medium, high, critical", criticality,
                              source_format=FORMAT) from None
    try:
        return Event(
            timestamp_ms=ts,
            source_format=FORMAT,
            parser_version=PARSER_VERSION,
            raw_sha256=raw_sha256,
            id=str(event_id),
            host=Host(name=host_name or src_ip, ip=[src_ip] if src_ip else [], criticality=criticality),
            user=User(name=user_name) if user_name else None,
            process=Process(name=process_name) if process_name else None,
            source=Endpoint(ip=src_ip) if src_ip else None,
            destination=Endpoint(ip=dest_ip) if dest_ip else None,
            threat=Threat(technique_ids=_techniques(doc.get("attck_technique"))),
            origin=origin,
            original=doc,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise NormalizeError("schema", f"{path}: {first['msg']}", source_format=FORMAT) from None
