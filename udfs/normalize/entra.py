"""Microsoft Entra ID (Azure AD) sign-in and audit logs.

The Azure Monitor diagnostic-settings shape (Event Hub, storage export), whose top-level key casing
varies by export path (``operationName`` or ``operationname``)::

    {"time": "2024-05-01T12:00:00Z", "category": "SignInLogs", "operationName": "Sign-in activity",
     "tenantId": "...", "resourceId": "/tenants/.../providers/Microsoft.aadiam", "callerIpAddress": "...",
     "properties": {"userPrincipalName": "alice@example.com", "status": {"errorCode": 0}, ...}}

and the Microsoft Graph shape (``signIns`` / ``directoryAudits`` objects, the ``properties`` above).
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import field_error, first_present, missing_field
from udfs.normalize.fields import flat, soft_bool, soft_int, soft_ip, soft_str
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "entra_id"
PARSER_VERSION = "entra_id/1"
D = dict[str, Any]

# Where a Graph signIn / directoryAudit object keeps its time (inside ``properties`` in the diagnostic shape).
_GRAPH_TIME_KEYS = ("createdDateTime", "activityDateTime")
_OPERATION_TYPES = {"add": ["creation"], "delete": ["deletion"], "update": ["change"], "assign": ["change"]}


def _lower(doc: D) -> D:
    return {k.lower(): v for k, v in doc.items()}


def _graph_signin(doc: D) -> bool:
    return "createdDateTime" in doc and ("userPrincipalName" in doc or "appDisplayName" in doc) and "status" in doc


def _graph_audit(doc: D) -> bool:
    return "activityDateTime" in doc and "activityDisplayName" in doc


def looks_like(doc: D) -> bool:
    if "properties" in doc or "Properties" in doc:
        low = _lower(doc)
        return (
            "category" in low
            and ("operationname" in low or "tenantid" in low)
            and ("resourceid" in low or "tenantid" in low)
        )
    return _graph_signin(doc) or _graph_audit(doc)


def _obj(doc: D, key: str, path: str) -> D:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise field_error(path, "an object", value, source_format=FORMAT)
    return value


# Entra risk detection (riskEventTypes / riskEventTypes_v2) -> the Authentication field it sets.
_RISK_EVENTS = {
    "anomaloustoken": "token_anomaly",
    "tokenissueranomaly": "token_anomaly",
    "impossibletravel": "impossible_travel",
    "unlikelytravel": "impossible_travel",  # the v1 name of impossibleTravel
    "newcountry": "new_country",
    "anonymizedipaddress": "anonymized_ip",
}


def risk_events(props: D) -> list[str]:
    """Both lists, v2 first, each name once: exports carry either or both, and v1 is deprecated."""
    seen: dict[str, None] = {}
    for key in ("riskEventTypes_v2", "riskEventTypes"):
        values = props.get(key)
        if isinstance(values, list):
            seen.update((v, None) for v in values if isinstance(v, str) and v)
    return list(seen)


def unmanaged(device: D) -> bool | None:
    """Entra fills ``deviceId`` only for a registered or joined device, and ``isManaged`` /
    ``isCompliant`` only when it knows: managed or compliant says no, an empty id or
    ``isManaged: false`` says yes, anything else is unknown."""
    managed, compliant = soft_bool(device.get("isManaged")), soft_bool(device.get("isCompliant"))
    if managed or compliant:
        return False
    if managed is False:
        return True
    if "deviceId" in device and not soft_str(device.get("deviceId")):
        return True
    return None


def _signin(props: D, low: D, out: D) -> None:
    status = _obj(props, "status", "properties.status")
    code = soft_int(status.get("errorCode"))
    outcome = None if code is None else ("success" if code == 0 else "failure")
    upn = soft_str(props.get("userPrincipalName")) or soft_str(props.get("servicePrincipalName"))
    _, _, domain = (upn or "").partition("@")
    out["user"] = flat(
        {
            "name": upn or soft_str(props.get("servicePrincipalName")) or soft_str(low.get("identity")),
            "domain": domain or None,
            "id": soft_str(props.get("userId")) or soft_str(props.get("servicePrincipalId")),
            "email": upn if upn and "@" in upn else None,
            "full_name": soft_str(props.get("userDisplayName")),
        }
    )
    location = _obj(props, "location", "properties.location")
    ip = soft_ip(props.get("ipAddress")) or soft_ip(low.get("calleripaddress"))
    out["source"] = flat(
        {
            "ip": ip,
            "geo": flat(
                {
                    "city_name": soft_str(location.get("city")),
                    "region_name": soft_str(location.get("state")),
                    "country_iso_code": soft_str(location.get("countryOrRegion")),
                }
            ),
        }
    )
    requirement = soft_str(props.get("authenticationRequirement")) or ""
    mfa = True if requirement == "multiFactorAuthentication" or props.get("mfaDetail") else None
    if mfa is None and requirement == "singleFactorAuthentication":
        mfa = False
    details = props.get("authenticationDetails")
    method = None
    if isinstance(details, list) and details and isinstance(details[0], dict):
        method = soft_str(details[0].get("authenticationMethod"))
    risk = soft_str(props.get("riskLevelDuringSignIn")) or soft_str(props.get("riskLevelAggregated"))
    detections = risk_events(props)
    facts: D = {_RISK_EVENTS[d.lower()]: True for d in detections if d.lower() in _RISK_EVENTS}
    out["authentication"] = flat(
        facts
        | {
            "unmanaged_device": unmanaged(_obj(props, "deviceDetail", "properties.deviceDetail")),
            "risk_events": detections or None,
            "method": method,
            "protocol": soft_str(props.get("authenticationProtocol")),
            "mfa": mfa,
            "outcome": outcome,
            "failure_reason": soft_str(status.get("failureReason")) if outcome == "failure" else None,
            "session_id": soft_str(props.get("sessionId")) or soft_str(props.get("correlationId")),
            "risk_level": risk if risk and risk != "none" else None,
        }
    )
    out["event"].update(category=["authentication"], type=["start"], action="sign-in", outcome=outcome)
    out["cloud"]["resource"] = soft_str(props.get("resourceDisplayName")) or soft_str(props.get("appDisplayName"))
    out["cloud"]["user_agent"] = soft_str(props.get("userAgent"))
    out["cloud"]["principal"] = upn
    out["cloud"]["principal_type"] = "ServicePrincipal" if props.get("servicePrincipalName") else "User"
    out["cloud"]["error_code"] = str(code) if code else None


def _actor(initiated: D) -> D | None:
    user = _obj(initiated, "user", "properties.initiatedBy.user")
    if user:
        upn = soft_str(user.get("userPrincipalName"))
        return flat(
            {
                "name": upn or soft_str(user.get("displayName")),
                "id": soft_str(user.get("id")),
                "email": upn if upn and "@" in upn else None,
                "full_name": soft_str(user.get("displayName")),
            }
        )
    app = _obj(initiated, "app", "properties.initiatedBy.app")
    if app:
        return flat(
            {
                "name": soft_str(app.get("displayName")) or soft_str(app.get("servicePrincipalName")),
                "id": soft_str(app.get("servicePrincipalId")) or soft_str(app.get("appId")),
            }
        )
    return None


def _audit(props: D, low: D, out: D) -> None:
    initiated = _obj(props, "initiatedBy", "properties.initiatedBy")
    actor = _actor(initiated)
    targets = props.get("targetResources")
    if targets is not None and not isinstance(targets, list):
        raise field_error("properties.targetResources", "a list of objects", targets, source_format=FORMAT)
    targets = [t for t in targets or [] if isinstance(t, dict)]
    roles: list[str] = []
    for target in targets:
        modified = target.get("modifiedProperties") or []
        if not isinstance(modified, list):
            raise field_error("properties.targetResources[].modifiedProperties", "a list of objects", modified,
                              source_format=FORMAT)
        for prop in modified:
            if isinstance(prop, dict) and prop.get("displayName") in ("Role.DisplayName", "RoleDefinition.DisplayName"):
                value = str(prop.get("newValue") or "").strip('"')
                if value:
                    roles.append(value)
    target_user = next((t for t in targets if str(t.get("type", "")).lower() == "user"), None)
    if target_user is not None:
        upn = soft_str(target_user.get("userPrincipalName"))
        tgt = flat(
            {
                "name": upn or soft_str(target_user.get("displayName")),
                "id": soft_str(target_user.get("id")),
                "email": upn if upn and "@" in upn else None,
                "roles": roles or None,
                "privileged": True if any("admin" in r.lower() for r in roles) else None,
            }
        )
        actor = (actor or {}) | {"target": tgt}
    group = next((t for t in targets if str(t.get("type", "")).lower() == "group"), None)
    if group is not None:
        out["group"] = flat({"name": soft_str(group.get("displayName")), "id": soft_str(group.get("id"))})
    out["user"] = actor
    ip = soft_ip(_obj(initiated, "user", "properties.initiatedBy.user").get("ipAddress")) or soft_ip(
        low.get("calleripaddress")
    )
    out["source"] = flat({"ip": ip})
    result = (soft_str(props.get("result")) or soft_str(low.get("resulttype")) or "").lower()
    outcome = {"success": "success", "failure": "failure"}.get(result)
    operation = (soft_str(props.get("operationType")) or "").lower()
    out["event"].update(
        category=["iam"],
        type=_OPERATION_TYPES.get(operation, ["info"]),
        action=soft_str(props.get("activityDisplayName")) or soft_str(low.get("operationname")),
        outcome=outcome,
        reason=soft_str(props.get("resultReason")),
    )
    out["cloud"]["resource"] = soft_str(targets[0].get("displayName")) if targets else None


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    graph = "properties" not in doc and "Properties" not in doc
    low = {} if graph else _lower(doc)
    props = doc if graph else _obj(low, "properties", "properties")
    category = soft_str(low.get("category")) or ("SignInLogs" if _graph_signin(doc) else "AuditLogs")
    if not graph and low.get("time") not in (None, ""):
        ts = to_epoch_ms(low["time"], "time")
    else:
        key = first_present(props, _GRAPH_TIME_KEYS, source_format=FORMAT) if graph else None
        if key is None:  # the diagnostic shape: its own time, or the Graph object's inside properties
            key = next((k for k in _GRAPH_TIME_KEYS if props.get(k) not in (None, "")), None)
            if key is None:
                raise missing_field("time", *(f"properties.{k}" for k in _GRAPH_TIME_KEYS), source_format=FORMAT)
        ts = to_epoch_ms(props[key], key if graph else f"properties.{key}")
    out: D = {
        "timestamp_ms": ts,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "id": soft_str(props.get("id")) or soft_str(low.get("correlationid")),
        "event": {"module": "azure", "dataset": f"azure.{category.lower()}"},
        "cloud": {
            "provider": "azure",
            "service": "entra_id",
            "tenant": soft_str(low.get("tenantid")) or soft_str(props.get("tenantId")),
            "api_call": soft_str(low.get("operationname")) or soft_str(props.get("activityDisplayName")),
        },
        "origin": origin,
        "original": doc,
    }
    if category.endswith("SignInLogs") or _graph_signin(doc):
        _signin(props, low, out)
    else:
        _audit(props, low, out)
    out["cloud"] = flat(out["cloud"])
    if out.get("user") is None:
        out.pop("user", None)
    return out
