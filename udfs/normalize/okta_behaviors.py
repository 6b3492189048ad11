"""Okta's sign-in behaviors and ThreatInsight verdict, from ``debugContext.debugData``.

Okta writes the behaviors it evaluated twice, in two shapes:

- ``behaviors``: Java ``Map.toString`` text, ``{New Geo-Location=NEGATIVE, New Device=POSITIVE, ...}``;
- ``logOnlySecurityData``: JSON text, ``{"risk": {"level": "LOW"}, "behaviors": {"New Device": "NEGATIVE", ...}}``.

Each behavior is POSITIVE (seen), NEGATIVE (not seen), or UNKNOWN / BAD_REQUEST (not evaluated: the
user has too little history); only the first two are facts. Text that is neither shape yields nothing:
a field the vendor may reshape must never fail the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.normalize.fields import soft_bool, soft_str
from udfs.normalize.rawjson import decode_embedded

_VERDICT = {"POSITIVE": True, "NEGATIVE": False}
# Okta behavior name (lower case) -> the schemas.event.Authentication field it sets.
BEHAVIOR_FIELDS = {
    "new device": "new_device",
    "new ip": "new_ip",
    "new country": "new_country",
    "velocity": "velocity",
}


def parse_behaviors(text: str) -> dict[str, str]:
    """``{A=B, C=D}`` -> ``{"A": "B", "C": "D"}``; entries without ``=`` are skipped.

    Names hold spaces and hyphens but neither ``,`` nor ``=`` (Okta's own names), so a plain split is exact.
    """
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    out: dict[str, str] = {}
    for part in body.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def _log_only(debug: Mapping[str, Any]) -> Mapping[str, Any]:
    value = debug.get("logOnlySecurityData")
    if isinstance(value, str) and value[:1] == "{":
        value = decode_embedded(value)
    return value if isinstance(value, dict) else {}


def _behaviors(debug: Mapping[str, Any], log_only: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    nested = log_only.get("behaviors")
    if isinstance(nested, dict):
        found.update({str(k): str(v) for k, v in nested.items()})
    text = debug.get("behaviors")
    if isinstance(text, str):
        found.update(parse_behaviors(text))  # the plain field wins: it is what Okta documents
    return found


def risk_level(debug: Mapping[str, Any]) -> str | None:
    """``logOnlySecurityData.risk.level`` lower-cased (the plain ``risk`` field is read by the caller)."""
    risk = _log_only(debug).get("risk")
    level = soft_str(risk.get("level")) if isinstance(risk, dict) else None
    return level.lower() if level else None


def sign_in_facts(debug: Mapping[str, Any], security: Mapping[str, Any]) -> dict[str, bool]:
    """The Authentication fields these sources set; absent or unevaluated facts are left out."""
    out: dict[str, bool] = {}
    for name, verdict in _behaviors(debug, _log_only(debug)).items():
        field = BEHAVIOR_FIELDS.get(name.lower())
        if field is not None and verdict.upper() in _VERDICT:
            out[field] = _VERDICT[verdict.upper()]
    threat = soft_bool(debug.get("threatSuspected"))
    if threat is not None:
        out["threat_suspected"] = threat
    hints = [soft_bool(security.get(k)) for k in ("isProxy", "isTor")]
    if any(hints):
        out["anonymized_ip"] = True
    elif False in hints:
        out["anonymized_ip"] = False
    return out
