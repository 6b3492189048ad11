"""Okta System Log events (``/api/v1/logs``), one LogEvent object per record.

{"uuid": "...", "published": "2024-05-01T12:00:00.000Z", "eventType": "user.session.start",
 "actor": {"id": "00u1...", "type": "User", "alternateId": "alice@example.com", "displayName": "Alice"},
 "client": {"ipAddress": "198.51.100.7", "userAgent": {"rawUserAgent": "..."},
            "geographicalContext": {"city": "...", "country": "..."}},
 "outcome": {"result": "SUCCESS", "reason": null},
 "authenticationContext": {"externalSessionId": "..."}, "target": [{"type": "User", ...}], ...}
"""

from __future__ import annotations

import re
from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import field_error, require
from udfs.normalize.fields import flat, opt_obj, opt_str, req_str, soft_ip, soft_str
from udfs.normalize.okta_behaviors import risk_level, sign_in_facts
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "okta"
PARSER_VERSION = "okta/1"
D = dict[str, Any]

_OUTCOME = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}
# eventType prefix -> (category, type); the first matching prefix wins.
_CATEGORIES: list[tuple[str, list[str], list[str]]] = [
    ("user.session.end", ["authentication", "session"], ["end"]),
    ("user.session.impersonation", ["iam", "session"], ["admin"]),
    ("user.session", ["authentication", "session"], ["start"]),
    ("user.authentication", ["authentication"], ["start"]),
    ("user.mfa", ["authentication"], ["change"]),
    ("policy.evaluate_sign_on", ["authentication"], ["info"]),
    ("user.account.privilege", ["iam"], ["admin", "change"]),
    ("user.account", ["iam"], ["user", "change"]),
    ("user.lifecycle.create", ["iam"], ["user", "creation"]),
    ("user.lifecycle.delete", ["iam"], ["user", "deletion"]),
    ("user.lifecycle", ["iam"], ["user", "change"]),
    ("group.user_membership", ["iam"], ["group", "change"]),
    ("group", ["iam"], ["group", "change"]),
    ("application.user_membership", ["iam"], ["user", "access"]),
    ("system.api_token", ["iam", "configuration"], ["change"]),
    ("system.mfa", ["iam", "configuration"], ["change"]),
    ("policy", ["configuration"], ["change"]),
    ("system", ["configuration"], ["info"]),
]
_RISK = re.compile(r"level=(\w+)")


def looks_like(doc: D) -> bool:
    return "eventType" in doc and "published" in doc and ("actor" in doc or "uuid" in doc)


def _classify(event_type: str) -> tuple[list[str], list[str]]:
    for prefix, category, types in _CATEGORIES:
        if event_type.startswith(prefix):
            return category, types
    return [], ["info"]


def _principal(actor: D) -> D | None:
    alt = soft_str(actor.get("alternateId"))
    name, _, domain = (alt or "").partition("@")
    return flat(
        {
            "name": alt,
            "domain": domain or None,
            "id": soft_str(actor.get("id")),
            "email": alt if alt and "@" in alt and name else None,
            "full_name": soft_str(actor.get("displayName")),
        }
    )


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    require(doc, (("eventType",), ("published",)), source_format=FORMAT)
    event_type = req_str(doc, "eventType", "eventType", FORMAT)
    ts = to_epoch_ms(doc["published"], "published")
    actor = opt_obj(doc, "actor", "actor", FORMAT)
    client = opt_obj(doc, "client", "client", FORMAT)
    outcome_obj = opt_obj(doc, "outcome", "outcome", FORMAT)
    auth_ctx = opt_obj(doc, "authenticationContext", "authenticationContext", FORMAT)
    debug = opt_obj(opt_obj(doc, "debugContext", "debugContext", FORMAT), "debugData", "debugContext.debugData", FORMAT)
    geo = opt_obj(client, "geographicalContext", "client.geographicalContext", FORMAT)
    agent = opt_obj(client, "userAgent", "client.userAgent", FORMAT)
    security = opt_obj(doc, "securityContext", "securityContext", FORMAT)
    targets = doc.get("target")
    if targets is not None and not isinstance(targets, list):
        raise field_error("target", "a list of objects", targets, source_format=FORMAT)

    category, types = _classify(event_type)
    outcome = _OUTCOME.get(str(outcome_obj.get("result") or "").upper(), "unknown" if outcome_obj else None)
    user = _principal(actor) if actor else None
    target_user = next((t for t in targets or [] if isinstance(t, dict) and t.get("type") in ("User", "AppUser")), None)
    if user is not None and target_user is not None:
        user["target"] = _principal(target_user)
    if user is not None and event_type.startswith("user.account.privilege.grant") and user.get("target"):
        user["target"]["privileged"] = True
    risk = _RISK.search(str(debug.get("risk") or ""))
    factor = soft_str(debug.get("factor")) or soft_str(auth_ctx.get("credentialType"))
    ip = soft_ip(client.get("ipAddress"))
    out: D = {
        "timestamp_ms": ts,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "id": opt_str(doc, "uuid", "uuid", FORMAT),
        "event": {
            "module": "okta",
            "dataset": "okta.system",
            "action": event_type,
            "category": category,
            "type": types,
            "outcome": outcome,
            "reason": soft_str(outcome_obj.get("reason")) or soft_str(doc.get("displayMessage")),
        },
        "user": user,
        "source": flat(
            {
                "ip": ip,
                "geo": flat(
                    {
                        "city_name": soft_str(geo.get("city")),
                        "region_name": soft_str(geo.get("state")),
                        "country_name": soft_str(geo.get("country")),
                    }
                ),
            }
        ),
        "cloud": flat(
            {
                "provider": "okta",
                "service": "okta",
                "api_call": event_type,
                "principal": soft_str(actor.get("alternateId")),
                "principal_type": soft_str(actor.get("type")),
                "user_agent": soft_str(agent.get("rawUserAgent")),
            }
        ),
        "origin": origin,
        "original": doc,
    }
    if "authentication" in category:
        out["authentication"] = flat(
            {
                "method": factor,
                "mfa": True if "mfa" in event_type or (factor and "factor" in factor.lower()) else None,
                "outcome": outcome,
                "failure_reason": soft_str(outcome_obj.get("reason")) if outcome == "failure" else None,
                "session_id": soft_str(auth_ctx.get("externalSessionId")),
                "risk_level": risk.group(1).lower() if risk else risk_level(debug),
            }
            | sign_in_facts(debug, security)
        )
    return out
