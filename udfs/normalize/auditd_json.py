"""Linux audit events rendered as JSON: LAUREL and go-audit.

LAUREL (one object per event, records keyed by type)::

    {"ID": "1626611363.720:348501", "SYSCALL": {"syscall": 59, "exe": "/usr/bin/perl", "UID": "root", ...},
     "EXECVE": {"argc": 3, "ARGV": ["perl", "-e", "..."]}, "CWD": {"cwd": "/root"}, "PATH": [{...}], ...}

go-audit (records as raw text, typed by number)::

    {"sequence": 59, "timestamp": "1492037291.036", "messages": [{"type": 1300, "data": "arch=c000003e ..."}]}
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.auditd_map import AuditEvent, AuditRecord, parse_kv, to_draft
from udfs.normalize.errors import NormalizeError, field_error
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


def looks_like(doc: dict[str, Any]) -> bool:
    ident = doc.get("ID")
    if isinstance(ident, str) and ":" in ident and any(k in doc for k in ("SYSCALL", "EXECVE", "PROCTITLE")):
        return True
    return isinstance(doc.get("messages"), list) and "sequence" in doc and "timestamp" in doc


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
    event = AuditEvent(time_ms=to_epoch_ms(doc["timestamp"], "timestamp"), serial=str(doc.get("sequence")))
    for i, msg in enumerate(doc["messages"]):
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), str):
            raise field_error(f"messages[{i}]", 'an object with a "data" string', msg, source_format=FORMAT)
        number = msg.get("type")
        kind = _TYPE_NAMES.get(number, f"UNKNOWN[{number}]") if isinstance(number, int) else str(number)
        event.records.append(AuditRecord(kind, parse_kv(msg["data"])))
    return event


def parse(doc: dict[str, Any], *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    event = _laurel(doc) if "ID" in doc else _go_audit(doc)
    if not event.records:
        raise NormalizeError("missing_field", "$: no audit record in the event", source_format=FORMAT)
    return to_draft(event, fmt=FORMAT, version=PARSER_VERSION, raw_sha256=raw_sha256, origin=origin, original=doc)
