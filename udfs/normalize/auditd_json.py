"""Linux audit events rendered as JSON: LAUREL, go-audit, and one object per audit record.

LAUREL (one object per event, records keyed by type)::

    {"ID": "1626611363.720:348501", "SYSCALL": {"syscall": 59, "exe": "/usr/bin/perl", "UID": "root", ...},
     "EXECVE": {"argc": 3, "ARGV": ["perl", "-e", "..."]}, "CWD": {"cwd": "/root"}, "PATH": [{...}], ...}

go-audit (records as raw text, typed by number)::

    {"sequence": 59, "timestamp": "1492037291.036", "messages": [{"type": 1300, "data": "arch=c000003e ..."}]}

one record per object, its ``key=value`` fields parsed, next to the raw line (as audit shippers
such as Logstash/Fluent Bit/Vector pipelines with a key-value filter emit it)::

    {"type": "SYSCALL", "msg": "audit(1714564800.123:4567):", "arch": "c000003e", "syscall": "59",
     "exe": "/usr/bin/curl", ..., "raw": "type=SYSCALL msg=audit(1714564800.123:4567): arch=c000003e ..."}

The raw line, when present, is the truth (the kernel's own text, hex values decoded as for
``audit.log``); the parsed fields add what it lacks (a shipper's interpretations such as ``UID``).
"""

from __future__ import annotations

import re
from typing import Any

from schemas.event import Origin
from udfs.normalize.auditd_map import AuditEvent, AuditRecord, parse_kv, parse_line, to_draft
from udfs.normalize.errors import NormalizeError, field_error, missing_field, require
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "auditd_json"
PARSER_VERSION = "auditd_json/1"

# linux/audit.h numbers of the record types go-audit passes through most often.
_TYPE_NAMES = {
    1100: "USER_AUTH",
    1101: "USER_ACCT",
    1103: "CRED_ACQ",
    1104: "CRED_DISP",
    1105: "USER_START",
    1106: "USER_END",
    1112: "USER_LOGIN",
    1113: "USER_LOGOUT",
    1114: "ADD_USER",
    1115: "DEL_USER",
    1116: "ADD_GROUP",
    1117: "DEL_GROUP",
    1123: "USER_CMD",
    1130: "SERVICE_START",
    1131: "SERVICE_STOP",
    1300: "SYSCALL",
    1302: "PATH",
    1305: "CONFIG_CHANGE",
    1306: "SOCKADDR",
    1307: "CWD",
    1309: "EXECVE",
    1320: "EOE",
    1326: "SECCOMP",
    1327: "PROCTITLE",
    1400: "AVC",
}
_LAUREL_META = frozenset({"ID", "NODE"})
# A per-record object: the keys that are about the record, not fields of it.
_RECORD_META = frozenset({"type", "msg", "raw", "node", "host", "@timestamp", "timestamp", "@version", "message"})
_STAMP = re.compile(r"audit\((\d+(?:\.\d+)?):(\d+)\)")
_RECORD_TIME_KEYS = ("msg", "raw", "@timestamp", "timestamp")


def looks_like(doc: dict[str, Any]) -> bool:
    ident = doc.get("ID")
    if isinstance(ident, str) and ":" in ident and any(k in doc for k in ("SYSCALL", "EXECVE", "PROCTITLE")):
        return True
    if isinstance(doc.get("messages"), list) and "sequence" in doc and "timestamp" in doc:
        return True
    return _is_record(doc)


def _is_record(doc: dict[str, Any]) -> bool:
    kind = doc.get("type")
    if type(kind) is not str or not kind[:1].isupper():
        return False
    msg, raw = doc.get("msg"), doc.get("raw")
    return (type(msg) is str and "audit(" in msg) or (type(raw) is str and "audit(" in raw)


def _laurel(doc: dict[str, Any]) -> AuditEvent:
    stamp, _, serial = str(doc["ID"]).rpartition(":")
    if not stamp or not serial.isdigit():
        raise field_error("ID", "'<epoch seconds>:<serial>'", doc["ID"], source_format=FORMAT)
    node = doc.get("NODE") if isinstance(doc.get("NODE"), str) else None
    event = AuditEvent(time_ms=to_epoch_ms(stamp, "ID"), serial=serial, node=node)
    # SYSCALL first: it names the acting process the other records describe.
    for key in sorted((k for k in doc if k.isupper() and k not in _LAUREL_META), key=lambda k: k != "SYSCALL"):
        value = doc[key]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                event.records.append(AuditRecord(key, item))
    return event


def _go_audit(doc: dict[str, Any]) -> AuditEvent:
    require(doc, (("timestamp",), ("messages",)), source_format=FORMAT)
    messages = doc["messages"]
    if not isinstance(messages, list):
        raise field_error("messages", "a list of objects", messages, source_format=FORMAT)
    event = AuditEvent(time_ms=to_epoch_ms(doc["timestamp"], "timestamp"), serial=str(doc.get("sequence")))
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), str):
            raise field_error(f"messages[{i}]", 'an object with a "data" string', msg, source_format=FORMAT)
        number = msg.get("type")
        kind = _TYPE_NAMES.get(number, f"UNKNOWN[{number}]") if isinstance(number, int) else str(number)
        event.records.append(AuditRecord(kind, parse_kv(msg["data"])))
    return event


def _scalar_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The object's own fields, as the text parser would give them (strings; nested shipper objects left out)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _RECORD_META or value is None:
            continue
        if type(value) is str:
            out[key] = value
        elif type(value) in (int, float, bool):
            out[key] = str(value).lower() if type(value) is bool else str(value)
    return out


def _record(doc: dict[str, Any]) -> AuditEvent:
    """One audit record as a JSON object (fields parsed by the shipper, plus the raw line)."""
    kind = doc.get("type")
    if kind in (None, ""):
        raise missing_field("type", source_format=FORMAT)
    if type(kind) is not str:
        raise field_error("type", "an audit record type such as 'SYSCALL'", kind, source_format=FORMAT)
    raw, msg = doc.get("raw"), doc.get("msg")
    node = doc.get("node") if type(doc.get("node")) is str else None
    # The host the shipper names, when the record has no node= (a string; Beats' host object is no name).
    shipper_host = doc.get("host") if type(doc.get("host")) is str else None
    if type(raw) is str and "audit(" in raw:
        raw_node, _, time_ms, serial, fields = parse_line(raw, FORMAT)
        for key, value in _scalar_fields(doc).items():
            fields.setdefault(key, value)
        node = node or raw_node or shipper_host
        return AuditEvent(time_ms=time_ms, serial=serial, node=node, records=[AuditRecord(kind, fields)])
    stamp = _STAMP.search(msg) if type(msg) is str else None
    if stamp is not None:
        time_ms, serial = int(float(stamp.group(1)) * 1000), stamp.group(2)
    else:
        key = next((k for k in ("@timestamp", "timestamp") if doc.get(k) not in (None, "")), None)
        if key is None:
            raise missing_field(*_RECORD_TIME_KEYS, source_format=FORMAT)
        time_ms, serial = to_epoch_ms(doc[key], key), str(doc.get("serial") or doc.get("sequence") or "0")
    node = node or shipper_host
    return AuditEvent(time_ms=time_ms, serial=serial, node=node, records=[AuditRecord(kind, _scalar_fields(doc))])


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    if "ID" in doc:
        event = _laurel(doc)
    elif "messages" in doc or "sequence" in doc:
        event = _go_audit(doc)
    elif "type" in doc:
        event = _record(doc)
    else:  # a fixed format on an object of none of the three shapes
        raise missing_field("ID", "messages", "type", source_format=FORMAT)
    if not event.records:
        raise NormalizeError("missing_field", "$: no audit record in the event", source_format=FORMAT)
    return to_draft(event, fmt=FORMAT, version=PARSER_VERSION, raw_sha256=raw_sha256, origin=origin, original=doc)
