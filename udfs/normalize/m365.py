"""Microsoft 365 unified audit log records (Office 365 Management Activity API), and Sentinel's
``OfficeActivity`` rows, which are the same records with a few columns renamed.

    {"CreationTime": "2024-05-01T12:00:00", "Id": "...", "Operation": "New-InboxRule",
     "OrganizationId": "...", "RecordType": 1, "ResultStatus": "True", "UserKey": "...", "UserType": 2,
     "Workload": "Exchange", "ClientIP": "198.51.100.7:50312", "UserId": "alice@example.com",
     "Parameters": [{"Name": "ForwardTo", "Value": "x@evil.example"}], ...}

Sentinel names ``Workload`` ``OfficeWorkload``, ``Id`` ``OfficeId``, ``ObjectId`` ``OfficeObjectId``,
``ClientIPAddress`` ``Client_IPAddress`` and ``SiteUrl`` ``Site_Url``; each field is read under
either name. The record stays in ``original`` as sent.
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import require
from udfs.normalize.fields import basename, extension, flat, req_str, soft_ip, soft_str, split_user
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "m365"
PARSER_VERSION = "m365/1"
D = dict[str, Any]

# A field and its Sentinel OfficeActivity column name.
_WORKLOAD = ("Workload", "OfficeWorkload")
_ID = ("Id", "OfficeId")
_OBJECT = ("ObjectId", "OfficeObjectId")
_CLIENT_IP = ("ClientIP", "ClientIPAddress", "Client_IPAddress", "ActorIpAddress")
_SITE = ("SiteUrl", "Site_Url")

_OUTCOME = {
    "succeeded": "success",
    "success": "success",
    "true": "success",
    "partiallysucceeded": "success",
    "failed": "failure",
    "failure": "failure",
    "false": "failure",
}
_AUTH_OPERATIONS = {"UserLoggedIn": "success", "UserLoginFailed": "failure", "MailboxLogin": None}
_FILE_TYPES = {
    "FileAccessed": ["access"],
    "FileDownloaded": ["access"],
    "FileSyncDownloadedFull": ["access"],
    "FilePreviewed": ["access"],
    "FileUploaded": ["creation"],
    "FileSyncUploadedFull": ["creation"],
    "FileCopied": ["creation"],
    "FileModified": ["change"],
    "FileRenamed": ["change"],
    "FileMoved": ["change"],
    "FileDeleted": ["deletion"],
    "FileRecycled": ["deletion"],
}
# Exchange cmdlets and Entra operations by verb (``New-InboxRule``, ``Add member to role.``).
_VERB_TYPES = {
    "new": ["creation"],
    "add": ["creation"],
    "set": ["change"],
    "update": ["change"],
    "enable": ["change"],
    "disable": ["change"],
    "remove": ["deletion"],
    "delete": ["deletion"],
}


def looks_like(doc: D) -> bool:
    return "Operation" in doc and "CreationTime" in doc and ("Workload" in doc or "RecordType" in doc)


def _first(doc: D, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = soft_str(doc.get(name))
        if value is not None:
            return value
    return None


def _client_ip(value: str | None) -> str | None:
    """``198.51.100.7``, ``198.51.100.7:50312``, ``[2001:db8::1]:443`` or a bare IPv6 address."""
    if not value:
        return None
    ip = soft_ip(value)
    if ip is not None:
        return ip
    if value.startswith("["):
        return soft_ip(value[1 : value.find("]")])
    host, sep, port = value.rpartition(":")
    return soft_ip(host) if sep and port.isdigit() else None


def _kind(operation: str, workload: str | None) -> tuple[list[str], list[str]]:
    if operation in _AUTH_OPERATIONS:
        return ["authentication"], ["start"]
    if operation in _FILE_TYPES:
        return ["file"], _FILE_TYPES[operation]
    verb = operation.replace("-", " ").split(" ", 1)[0].lower()
    types = _VERB_TYPES.get(verb)
    if types is None:
        return [], ["info"]
    if workload == "AzureActiveDirectory":
        return ["iam"], types
    return ["configuration"], types


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    require(doc, (("Operation",), ("CreationTime",)), source_format=FORMAT)
    return to_draft(doc, to_epoch_ms(doc["CreationTime"], "CreationTime"), raw_sha256=raw_sha256, origin=origin)


def to_draft(doc: D, time_ms: int, *, raw_sha256: str, origin: Origin, fmt: str = FORMAT) -> D:
    """The event draft of one audit record whose time the caller has read (``CreationTime``, or a
    Sentinel row's ``TimeGenerated``)."""
    operation = req_str(doc, "Operation", "Operation", fmt)
    workload = _first(doc, _WORKLOAD)
    category, types = _kind(operation, workload)
    status = (soft_str(doc.get("ResultStatus")) or "").lower()
    outcome = _OUTCOME.get(status)
    if "authentication" in category and _AUTH_OPERATIONS.get(operation):
        outcome = outcome or _AUTH_OPERATIONS[operation]
    upn = soft_str(doc.get("UserId"))
    name, domain = split_user(upn)
    owner = soft_str(doc.get("MailboxOwnerUPN"))  # the mailbox acted on, when not the actor's own
    target = flat({"name": owner, "email": owner if "@" in owner else None}) if owner and owner != upn else None
    user = flat(
        {
            "name": upn,
            "domain": domain,
            "id": soft_str(doc.get("UserKey")),
            "email": upn if upn and "@" in upn and name else None,
            "target": target,
        }
    )
    obj = _first(doc, _OBJECT)
    agent = soft_str(doc.get("UserAgent")) or soft_str(doc.get("ClientInfoString"))
    out: D = {
        "timestamp_ms": time_ms,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "id": _first(doc, _ID),
        "event": {
            "module": "m365",
            "dataset": f"m365.{workload.lower()}" if workload else "m365.audit",
            "provider": workload,
            "action": operation,
            "category": category,
            "type": types,
            "outcome": outcome,
            "reason": soft_str(doc.get("LogonError")) if outcome == "failure" else None,
        },
        "user": user,
        "source": flat({"ip": _client_ip(_first(doc, _CLIENT_IP))}),
        "cloud": flat(
            {
                "provider": "azure",
                "service": workload,
                "tenant": soft_str(doc.get("OrganizationId")),
                "api_call": operation,
                "principal": upn,
                "principal_type": soft_str(doc.get("UserType")),
                "user_agent": agent,
                "resource": obj or _first(doc, _SITE),
            }
        ),
        "origin": origin,
        "original": doc,
    }
    if category == ["file"]:
        file_name = soft_str(doc.get("SourceFileName"))
        out["file"] = flat(
            {
                "path": obj,
                "name": file_name or basename(obj),
                "directory": soft_str(doc.get("SourceRelativeUrl")),
                "extension": (soft_str(doc.get("SourceFileExtension")) or extension(file_name or obj) or "").lower()
                or None,
            }
        )
    if category == ["authentication"]:
        out["authentication"] = flat(
            {
                "outcome": outcome,
                "failure_reason": out["event"]["reason"],
            }
        )
    if out["user"] is None:
        del out["user"]
    return out
