"""Microsoft Sentinel / Log Analytics table exports: one JSON object per row, any table per record.

Every row names its table in ``Type`` and carries ``TimeGenerated``; the table decides the parser:

- ``SecurityEvent``, ``Event``, ``WindowsEvent``: the Windows mapping
  (:mod:`udfs.normalize.windows.sentinel`);
- ``Syslog``: ``SyslogMessage`` unwrapped; Sysmon for Linux XML goes to :mod:`sysmon_linux`, auditd or
  AUOMS text (``type=AUOMS_EXECVE audit(...)``) to :mod:`auditd`, anything else is a plain syslog event;
- ``SigninLogs`` (and the ``AAD*SignInLogs`` tables), ``AuditLogs``: :mod:`entra`, the row rebuilt in
  the Azure Monitor diagnostic shape it reads;
- ``OfficeActivity``: :mod:`m365`.

The event's time is the row's ``TimeGenerated`` whatever the table (the inner record's own time, when
it has one, stays in ``original``). The event keeps the inner parser's ``source_format`` (``entra_id``,
``sysmon_linux``, ``auditd``...), so detection routes it as that source; ``parser_version`` names both
(``sentinel/1+entra_id/1``). Exports write ``dynamic`` columns (``Status``, ``LocationDetails``,
``InitiatedBy``...) as JSON text: they are decoded, in ``original`` too, to the objects the table holds.
A rejected row's dead letter names the table and the column (``Syslog row: SyslogMessage: ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.event import Origin
from udfs.normalize import auditd, entra, m365, sysmon_linux
from udfs.normalize.errors import NormalizeError, field_error, missing_field, require
from udfs.normalize.fields import flat, soft_int, soft_ip, soft_str
from udfs.normalize.rawjson import decode_embedded
from udfs.normalize.timeparse import to_epoch_ms
from udfs.normalize.windows import sentinel as windows_rows

FORMAT = "sentinel"
PARSER_VERSION = "sentinel/1"
D = dict[str, Any]
Handler = Callable[[D, str, int, str, Origin], D]


def looks_like(doc: D) -> bool:
    return "TimeGenerated" in doc and "Type" in doc


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    require(doc, (("Type",), ("TimeGenerated",)), source_format=FORMAT)
    table = doc["Type"]
    if not isinstance(table, str):
        raise field_error("Type", "a Log Analytics table name", table, source_format=FORMAT)
    handler = _HANDLERS.get(table)
    if handler is None:
        known = ", ".join(sorted(_HANDLERS))
        detail = f"Type: table {table[:60]!r} is not one ttpflow reads; it reads {known}"
        raise NormalizeError("unknown_format", detail, source_format=FORMAT)
    time_ms = to_epoch_ms(doc["TimeGenerated"], "TimeGenerated")
    try:
        out = handler(doc, table, time_ms, raw_sha256, origin)
    except NormalizeError as err:
        # The inner parser's paths are the row's columns or inside them: say which table it was.
        raise NormalizeError(err.reason, f"{table} row: {err.detail}", source_format=FORMAT) from None
    out["timestamp_ms"] = time_ms
    out["parser_version"] = f"{PARSER_VERSION}+{out['parser_version']}"
    return out


# ---------------------------------------------------------------- Windows tables


def _windows(row: D, table: str, time_ms: int, raw_sha256: str, origin: Origin) -> D:
    return windows_rows.parse_row(row, table, time_ms, raw_sha256=raw_sha256, origin=origin)


# ---------------------------------------------------------------- Syslog

# Syslog severity names (Log Analytics' SeverityLevel) to their RFC 5424 numbers.
_SEVERITY = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


def _syslog(row: D, table: str, time_ms: int, raw_sha256: str, origin: Origin) -> D:
    message = row.get("SyslogMessage")
    if message is None:
        raise missing_field("SyslogMessage", source_format=FORMAT)
    if not isinstance(message, str):
        raise field_error("SyslogMessage", "the syslog message text", message, source_format=FORMAT)
    text = message.strip()
    try:
        if sysmon_linux.looks_like_text(text):
            out = sysmon_linux.parse_text(text, raw_sha256=raw_sha256, origin=origin)
        elif auditd.looks_like_text(text):
            out = auditd.parse_text(text, raw_sha256=raw_sha256, origin=origin)
        else:
            return _plain_syslog(row, raw_sha256, origin)
    except NormalizeError as err:
        raise NormalizeError(err.reason, f"SyslogMessage: {err.detail}", source_format=FORMAT) from None
    host = out.setdefault("host", {})
    if not host.get("name"):
        host["name"] = soft_str(row.get("Computer")) or soft_str(row.get("HostName"))
    # The row's own columns, nested: the inner record's fields stay the flat ones rules read.
    out["original"]["sentinel"] = {k: v for k, v in row.items() if k != "SyslogMessage" and v not in (None, "")}
    return out


def _plain_syslog(row: D, raw_sha256: str, origin: Origin) -> D:
    """A syslog line no parser knows: host, program, pid and severity; the message stays in ``original``."""
    host = soft_str(row.get("Computer")) or soft_str(row.get("HostName"))
    facility = soft_str(row.get("Facility"))
    ip = soft_ip(row.get("HostIP"))
    return {
        "source_format": "syslog",
        "parser_version": "syslog/1",
        "raw_sha256": raw_sha256,
        "id": soft_str(row.get("_ItemId")),
        "event": {
            "module": "syslog",
            "dataset": f"syslog.{facility}" if facility else "syslog",
            "type": ["info"],
            "severity": _SEVERITY.get((soft_str(row.get("SeverityLevel")) or "").lower()),
        },
        "host": flat({"name": host, "hostname": host.split(".", 1)[0] if host else None, "ip": [ip] if ip else None})
        or {},
        "process": flat({"name": soft_str(row.get("ProcessName")), "pid": soft_int(row.get("ProcessID"))}),
        "origin": origin,
        "original": _decoded(row),
    }


# ---------------------------------------------------------------- Entra ID

# table -> the Azure Monitor diagnostic category of the same logs
_ENTRA_CATEGORY = {
    "SigninLogs": "SignInLogs",
    "AADNonInteractiveUserSignInLogs": "NonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs": "ServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs": "ManagedIdentitySignInLogs",
    "AuditLogs": "AuditLogs",
}
# Columns whose diagnostic-shape property has another name than the column's camelCase.
_ENTRA_RENAMES = {"LocationDetails": "location", "AADOperationType": "operationType"}
_OBJECT_COLUMNS = ("Status", "LocationDetails", "DeviceDetail", "InitiatedBy")
_LIST_COLUMNS = ("TargetResources", "AuthenticationDetails")


def _camel(name: str) -> str:
    """A column name as the property it came from: ``UserPrincipalName`` -> ``userPrincipalName``,
    ``IPAddress`` -> ``ipAddress``, ``Id`` -> ``id``."""
    upper = 0
    while upper < len(name) and name[upper].isupper():
        upper += 1
    if upper <= 1:
        return name[:1].lower() + name[1:]
    if upper == len(name):
        return name.lower()
    return name[: upper - 1].lower() + name[upper - 1 :]


def _entra(row: D, table: str, time_ms: int, raw_sha256: str, origin: Origin) -> D:
    decoded = _decoded(row)
    for column in _OBJECT_COLUMNS:
        if column in decoded and not isinstance(decoded[column], dict):
            raise field_error(column, "an object (or its JSON text)", decoded[column], source_format=FORMAT)
    for column in _LIST_COLUMNS:
        if column in decoded and not isinstance(decoded[column], list):
            raise field_error(column, "a list (or its JSON text)", decoded[column], source_format=FORMAT)
    category = _ENTRA_CATEGORY[table]
    props = {_ENTRA_RENAMES.get(k) or _camel(k): v for k, v in decoded.items()}
    diagnostic = {
        "time": row["TimeGenerated"],
        "category": category,
        "operationName": decoded.get("OperationName"),
        "tenantId": decoded.get("TenantId") or decoded.get("AADTenantId"),
        "resultType": decoded.get("ResultType"),
        "callerIpAddress": decoded.get("IPAddress"),
        "correlationId": decoded.get("CorrelationId"),
        "identity": decoded.get("Identity"),
        "properties": props,
    }
    out = entra.parse(diagnostic, raw_sha256=raw_sha256, origin=origin)
    # Rules route Entra events on the diagnostic category (``original.category``); the row's own
    # ``Category`` (AuditLogs: ``UserManagement``...) stays as it came.
    decoded.setdefault("category", category)
    out["original"] = decoded
    return out


# ---------------------------------------------------------------- Office 365


def _office(row: D, table: str, time_ms: int, raw_sha256: str, origin: Origin) -> D:
    return m365.to_draft(_decoded(row), time_ms, raw_sha256=raw_sha256, origin=origin, fmt=FORMAT)


# ---------------------------------------------------------------- shared


def _decoded(row: D) -> D:
    """The row without empty columns, its ``dynamic`` columns decoded from their JSON text."""
    out: D = {}
    for key, value in row.items():
        if value is None or value == "":
            continue
        if type(value) is str and value[:1] in ("{", "["):
            inner = decode_embedded(value)
            if isinstance(inner, dict | list):
                value = inner
        out[key] = value
    return out


_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(windows_rows.TABLES, _windows),
    "Syslog": _syslog,
    **dict.fromkeys(_ENTRA_CATEGORY, _entra),
    "OfficeActivity": _office,
}
TABLES = tuple(sorted(_HANDLERS))
