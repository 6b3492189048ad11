"""Raw Linux audit log lines, as auditd writes ``/var/log/audit/audit.log`` (RAW or ENRICHED format).

    type=SYSCALL msg=audit(1492037291.036:59): arch=c000003e syscall=59 success=yes ... exe="/usr/bin/grep"
    node=web-01 type=USER_LOGIN msg=audit(1481077043.057:413): pid=1298 uid=0 ... msg='op=login acct="bob" ...'

A payload is one line, or several lines of the same event (same ``time:serial``), which are merged.
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.auditd_map import AuditEvent, AuditRecord, parse_line, to_draft
from udfs.normalize.errors import NormalizeError

FORMAT = "auditd"
PARSER_VERSION = "auditd/1"
MAX_LINES = 512  # one execve with a huge argv spans many lines; more than this is not one event


def looks_like_text(text: str) -> bool:
    head = text.lstrip()[:300]
    return head.startswith("type=") or (head.startswith("node=") and " type=" in head)


def parse_text(text: str, *, raw_sha256: str, origin: Origin) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise NormalizeError("missing_field", "$: empty audit record", source_format=FORMAT)
    if len(lines) > MAX_LINES:
        raise NormalizeError("huge_array", f"{len(lines)} audit lines, cap is {MAX_LINES}", source_format=FORMAT)
    node, kind, time_ms, serial, fields = parse_line(lines[0], FORMAT)
    event = AuditEvent(time_ms=time_ms, serial=serial, node=node, records=[AuditRecord(kind, fields)])
    for number, line in enumerate(lines[1:], start=2):
        _, kind, other_ms, other_serial, fields = parse_line(line, FORMAT)
        if (other_ms, other_serial) != (time_ms, serial):
            raise NormalizeError(
                "schema",
                f"line {number}: expected the same audit event {serial} as line 1, got {other_serial}",
                source_format=FORMAT,
            )
        event.records.append(AuditRecord(kind, fields))
    first = event.records[0]
    original: dict[str, Any] = {**first.fields, "type": first.type}
    if node:
        original["node"] = node
    if len(event.records) > 1:
        original["records"] = [{**r.fields, "type": r.type} for r in event.records]
    return to_draft(event, fmt=FORMAT, version=PARSER_VERSION, raw_sha256=raw_sha256, origin=origin, original=original)
