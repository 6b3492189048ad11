"""Evidence entries and alert drafts: what a completed match hands to the score stage.

A draft's ``evidence`` entries carry exactly the fields of :class:`schemas.alert.Evidence`, in event
time order, one timeline whatever the source (endpoint, network, identity, cloud). Extra facts (the
group values, how a network event was linked to its host, absence windows) ride on the draft.
"""

from __future__ import annotations

import hashlib
from typing import Any

from udfs.correlate.records import Draft
from udfs.score.assurance import auth_facts

MAX_EVIDENCE = 32


def evidence_of(hit: dict[str, Any]) -> dict[str, Any]:
    """The evidence entry of one hit, without its step name (the engine names the step)."""
    event = hit.get("event") or {}
    link = hit.get("link") or {}
    criticality = (event.get("host") or {}).get("criticality")
    if criticality is None:
        criticality = link.get("criticality")
    entry = {
        "timestamp_ms": hit["timestamp_ms"],
        "event_id": event.get("id"),
        "raw_sha256": event.get("raw_sha256") or hit.get("hit_id", "").split(":", 1)[0],
        "source_format": event.get("source_format"),
        "rule_id": hit["rule_id"],
        "techniques": list(hit.get("techniques", [])),
        "tactics": list(hit.get("tactics", [])),
        "host": link.get("host") or hit.get("host"),
        "user": link.get("user") or hit.get("user"),
        "asset_criticality": criticality,
    }
    auth = auth_facts(event)  # sign-in facts for identity assurance (udfs.score); most events have none
    if auth is not None:
        entry["authentication"] = auth
    return entry


def with_step(evidence: dict[str, Any], step: str) -> dict[str, Any]:
    return {"step": step, **evidence}


def entity_type(group_by: str | list[str], group: dict[str, str]) -> str:
    """``host``, ``user``, ``ip`` or ``cloud_principal``: what kind of entity the group names. A host
    field anywhere in the group makes it a host; only address fields make it an ip."""
    if group_by == "entity":
        return "host" if group.get("_kind") != "user" else "user"
    if group_by in ("host", "user"):
        return str(group_by)
    fields = [f.lower() for f in ([group_by] if isinstance(group_by, str) else group_by)]
    hostish = ("host", "computer", "workstation", "device", "hostname")
    if any(any(h in f for h in hostish) for f in fields):
        return "host"
    if fields and all(f.rsplit(".", 1)[-1] in _IP_FIELDS for f in fields):
        return "ip"
    if any(any(p in f for p in ("principal", "arn", "useridentity")) for f in fields):
        return "cloud_principal"
    return "user"


_IP_FIELDS = frozenset({"ip", "src_ip", "dst_ip", "dest_ip", "source_ip", "destination_ip", "client_ip",
                        "ipaddress", "sourceipaddress", "id.orig_h", "orig_h", "resp_h", "address"})


def entity_text(group: dict[str, str]) -> str:
    """One field: its value. Several: ``field=value`` pairs, in rule order."""
    shown = {k: v for k, v in group.items() if not k.startswith("_")}
    if len(shown) == 1:
        return next(iter(shown.values()))
    return ",".join(f"{k}={v}" for k, v in shown.items())


def rule_draft(rule: Any, kind: str, group: dict[str, str], evidence: list[dict[str, Any]], first_ms: int,
               last_ms: int, details: dict[str, Any], group_by: str | list[str] | None = None) -> Draft:
    """The draft of a match of ``rule`` (a rule model: its id, title, level and group_by)."""
    return make_draft(rule_id=rule.id, rule_title=rule.title, level=rule.level, kind=kind,
                      group_by=rule.group_by if group_by is None else group_by, group=group, evidence=evidence,
                      first_ms=first_ms, last_ms=last_ms, details=details)


def make_draft(
    *,
    rule_id: str,
    rule_title: str,
    level: str,
    kind: str,
    group_by: str | list[str],
    group: dict[str, str],
    evidence: list[dict[str, Any]],
    first_ms: int,
    last_ms: int,
    details: dict[str, Any] | None = None,
    links: list[dict[str, Any]] | None = None,
) -> Draft:
    evidence = sorted(evidence, key=lambda e: (e["timestamp_ms"], e["raw_sha256"], e["rule_id"]))
    if evidence:  # an inner correlation's evidence can predate the outer match's own first record
        first_ms = min(first_ms, evidence[0]["timestamp_ms"])
        last_ms = max(last_ms, evidence[-1]["timestamp_ms"])
    entity = entity_text(group)
    ids = "|".join(f"{e['raw_sha256']}:{e['rule_id']}" for e in evidence)
    # Deterministic: the same match replayed or restored mints the same id, so the exactly-once sink
    # and downstream de-duplication see one alert.
    alert_id = hashlib.sha256(f"{rule_id}|{entity}|{first_ms}|{ids}".encode()).hexdigest()[:24]
    return {
        "alert_id": alert_id,
        "rule_id": rule_id,
        "rule_title": rule_title,
        "rule_level": level,
        "rule_kind": kind,
        "group_by": entity_type(group_by, group),
        "entity": entity,
        "group": {k: v for k, v in group.items() if not k.startswith("_")},
        "first_ms": first_ms,
        "last_ms": last_ms,
        "evidence": evidence,
        "links": links or [],
        "details": details or {},
    }
