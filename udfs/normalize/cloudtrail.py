"""AWS CloudTrail records (one element of a delivered file's ``Records`` array, or an EventBridge detail).

    {"eventVersion": "1.08", "eventTime": "2024-05-01T12:00:00Z", "eventSource": "iam.amazonaws.com",
     "eventName": "CreateAccessKey", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
     "userAgent": "aws-cli/2.15", "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "...",
     "accountId": "111122223333", "principalId": "AIDA..."}, "errorCode": "AccessDenied", ...}

``Records`` files are split into records by :mod:`udfs.normalize.files` before they get here.

Records that went through Logstash, Beats or HELK arrive reshaped: ``@timestamp`` added, ``eventTime``
sometimes renamed or dropped (the shipper's date filter moved it to ``@timestamp``), and nested objects
sometimes flattened into dotted keys (``"requestParameters.bucketName": "x"``) or re-encoded as JSON
text. Dotted keys are nested again and JSON text decoded, so rules and analysts see one shape, the
one AWS writes, whatever carried the record.
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import first_present, require
from udfs.normalize.fields import flat, opt_obj, opt_str, req_str, soft_bool, soft_ip, soft_str
from udfs.normalize.rawjson import decode_embedded
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "cloudtrail"
PARSER_VERSION = "cloudtrail/1"
D = dict[str, Any]

_IAM_SOURCES = {
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "sso.amazonaws.com",
    "identitystore.amazonaws.com",
    "organizations.amazonaws.com",
}
_AUTH_EVENTS = {
    "ConsoleLogin",
    "GetSessionToken",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
    "ExternalIdPDirectoryLogin",
    "CredentialVerification",
    "CredentialChallenge",
    "UserAuthentication",
}
_TYPE_BY_PREFIX = [
    ("Create", ["creation"]),
    ("Put", ["creation"]),
    ("Add", ["creation"]),
    ("Run", ["creation"]),
    ("Delete", ["deletion"]),
    ("Remove", ["deletion"]),
    ("Terminate", ["deletion"]),
    ("Update", ["change"]),
    ("Modify", ["change"]),
    ("Attach", ["change"]),
    ("Detach", ["change"]),
    ("Set", ["change"]),
    ("Enable", ["change"]),
    ("Disable", ["change"]),
    ("Stop", ["change"]),
    ("Start", ["change"]),
    ("Get", ["access"]),
    ("List", ["access"]),
    ("Describe", ["access"]),
]


# The record's own time first; the shipper's ``@timestamp`` (its read time, or eventTime moved there) last.
TIME_KEYS = ("eventTime", "EventTime", "event_time", "eventtime", "@timestamp", "timestamp")
# Objects a shipper may have flattened to dotted keys or re-encoded as JSON text.
_OBJECTS = ("userIdentity", "requestParameters", "responseElements", "additionalEventData", "tlsDetails")


def looks_like(doc: D) -> bool:
    return (
        "eventSource" in doc
        and "eventName" in doc
        and ("eventTime" in doc or "eventVersion" in doc or "@timestamp" in doc or "eventID" in doc)
    )


def _reshape(doc: D) -> D:
    """``doc`` with dotted keys nested again and JSON-text objects decoded (a copy only when needed)."""
    # One join finds whether any key has a dot: a scan per key would cost more on every record.
    dotted = [k for k in doc if "." in k] if "." in "".join(doc) else []
    encoded = [k for k in _OBJECTS if type(doc.get(k)) is str and doc[k][:1] == "{"]
    if not dotted and not encoded:
        return doc
    out = dict(doc)
    for key in encoded:
        value = decode_embedded(out[key])
        if isinstance(value, dict):  # else left as text: the readers below report it with its path
            out[key] = value
    for key in dotted:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                break  # a scalar where an object would go: keep the dotted key as it came
            node = child
        else:
            if leaf not in node:
                node[leaf] = out.pop(key)
    return out


def _user(identity: D) -> D | None:
    kind = soft_str(identity.get("type"))
    issuer = opt_obj(
        opt_obj(identity, "sessionContext", "userIdentity.sessionContext", FORMAT),
        "sessionIssuer",
        "userIdentity.sessionContext.sessionIssuer",
        FORMAT,
    )
    arn = soft_str(identity.get("arn"))
    name = soft_str(identity.get("userName"))
    if name is None and kind == "AssumedRole" and arn:
        name = arn.rsplit("/", 1)[-1]  # the role session name
    if name is None and kind == "Root":
        name = "root"
    name = name or soft_str(issuer.get("userName")) or soft_str(identity.get("invokedBy"))
    if not (name or arn or identity.get("principalId")):
        return None
    return flat(
        {
            "name": name,
            "id": soft_str(identity.get("principalId")),
            "domain": soft_str(identity.get("accountId")),
            "privileged": True if kind == "Root" else None,
            "roles": [soft_str(issuer.get("arn"))] if soft_str(issuer.get("arn")) else None,
        }
    )


def _kind(source: str, name: str, read_only: bool | None) -> tuple[list[str], list[str]]:
    if name in _AUTH_EVENTS or source == "signin.amazonaws.com":
        return ["authentication"], ["start"]
    types = next((t for prefix, t in _TYPE_BY_PREFIX if name.startswith(prefix)), ["info"])
    if read_only:
        types = ["access"]
    return (["iam"] if source in _IAM_SOURCES else ["configuration"]), types


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    require(doc, (("eventName",), ("eventSource",), TIME_KEYS), source_format=FORMAT)
    doc = _reshape(doc)
    name = req_str(doc, "eventName", "eventName", FORMAT)
    source = req_str(doc, "eventSource", "eventSource", FORMAT)
    time_key = first_present(doc, TIME_KEYS, source_format=FORMAT)
    ts = to_epoch_ms(doc[time_key], time_key)
    identity = opt_obj(doc, "userIdentity", "userIdentity", FORMAT)
    attributes = opt_obj(
        opt_obj(identity, "sessionContext", "userIdentity.sessionContext", FORMAT),
        "attributes",
        "userIdentity.sessionContext.attributes",
        FORMAT,
    )
    response = doc.get("responseElements") if isinstance(doc.get("responseElements"), dict) else {}
    extra = doc.get("additionalEventData") if isinstance(doc.get("additionalEventData"), dict) else {}
    error = opt_str(doc, "errorCode", "errorCode", FORMAT)
    console = soft_str(response.get("ConsoleLogin"))
    # ConsoleLogin reports its result in responseElements; every other call fails with an errorCode.
    failed = console != "Success" if console else bool(error)
    outcome = "failure" if failed else "success"
    category, types = _kind(source, name, soft_bool(doc.get("readOnly")))
    mfa = soft_bool(attributes.get("mfaAuthenticated"))
    if extra.get("MFAUsed") in ("Yes", "No"):
        mfa = extra["MFAUsed"] == "Yes"
    source_addr = opt_str(doc, "sourceIPAddress", "sourceIPAddress", FORMAT)
    ip = soft_ip(source_addr)
    resources = doc.get("resources")
    resource = None
    if isinstance(resources, list) and resources and isinstance(resources[0], dict):
        resource = soft_str(resources[0].get("ARN"))
    out: D = {
        "timestamp_ms": ts,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "id": opt_str(doc, "eventID", "eventID", FORMAT),
        "event": {
            "module": "aws",
            "dataset": "aws.cloudtrail",
            "provider": source,
            "action": name,
            "category": category,
            "type": types,
            "outcome": outcome,
            "reason": opt_str(doc, "errorMessage", "errorMessage", FORMAT),
        },
        "user": _user(identity),
        "source": flat({"ip": ip, "domain": None if ip else source_addr}),
        "cloud": flat(
            {
                "provider": "aws",
                "account": opt_str(doc, "recipientAccountId", "recipientAccountId", FORMAT)
                or soft_str(identity.get("accountId")),
                "region": opt_str(doc, "awsRegion", "awsRegion", FORMAT),
                "service": source.split(".", 1)[0],
                "api_call": name,
                "principal": soft_str(identity.get("arn")),
                "principal_type": soft_str(identity.get("type")),
                "user_agent": opt_str(doc, "userAgent", "userAgent", FORMAT),
                "resource": resource,
                "error_code": error,
            }
        ),
        "origin": origin,
        "original": doc,
    }
    root = soft_str(identity.get("type")) == "Root"
    if "authentication" in category or mfa is not None or root:
        out["authentication"] = flat(
            {
                "method": "password" if name == "ConsoleLogin" else None,
                "mfa": mfa,
                "outcome": outcome if "authentication" in category else None,
                "failure_reason": soft_str(doc.get("errorMessage")) if outcome == "failure" else None,
                "root": True if root else None,
                # A write to who-can-do-what: where session credentials without MFA matter most.
                "sensitive_call": True if category == ["iam"] and types != ["access"] else None,
            }
        )
    if out["user"] is None:
        del out["user"]
    return out
