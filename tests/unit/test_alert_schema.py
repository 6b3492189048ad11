"""The alert model grows without breaking consumers: version 2 keeps every version-1 field, adds
optional ones, and reads version-1 alerts (docs/scoring.md, "Alert schema")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.alert import ALERT_SCHEMA_VERSION, Alert, upgrade_alert
from udfs.correlate.drafts import entity_type, evidence_of, make_draft, with_step
from udfs.correlate.sql.common import SEPARATORS
from udfs.correlate.sql.drafts import evidence_entry
from udfs.link.inventory import InventoryIndex
from udfs.score import score_alert

# An alert as version 1 wrote it (the fields and factor names of the first release).
VERSION_1: dict[str, Any] = {
    "schema_version": 1, "id": "c00c66bc006470a69a553bde", "rule_id": "ttpflow-seq-injection-then-c2",
    "rule_title": "Process injection followed by application-layer C2 on one host", "entity_type": "host",
    "entity": "ws-finance-07", "host": "ws-finance-07", "techniques": ["T1055.012", "T1071.001"],
    "tactics": ["privilege-escalation", "defense-evasion", "command-and-control"],
    "first_seen_ms": 1714557730000, "last_seen_ms": 1714558185000,
    "evidence": [{"step": "injection", "timestamp_ms": 1714557730000, "event_id": "evt-0003", "raw_sha256": "ab",
                  "source_format": "plain_json", "rule_id": "event:attck_technique", "techniques": ["T1055.012"],
                  "tactics": ["privilege-escalation", "defense-evasion"], "host": "ws-finance-07", "user": "j.doe",
                  "asset_criticality": 8}],
    "severity": {"score": 100, "label": "critical", "factors": [
        {"name": "rule_level", "weight": 1.0, "reason": "rule level high: base 65"},
        {"name": "asset_criticality", "weight": 1.3, "reason": "asset criticality 8/10"}]},
}


def test_a_version_1_alert_reads_as_version_2() -> None:
    alert = Alert.model_validate(VERSION_1)
    assert alert.schema_version == ALERT_SCHEMA_VERSION == 2
    assert (alert.group, alert.details, alert.links, alert.rule_kind, alert.context) == ({}, {}, [], None, None)
    assert alert.severity.base is None and alert.evidence[0].authentication is None
    assert upgrade_alert(VERSION_1) == {**VERSION_1, "schema_version": 2}
    assert upgrade_alert(upgrade_alert(VERSION_1)) == upgrade_alert(VERSION_1)


def test_version_2_keeps_every_version_1_field_with_its_type() -> None:
    """A consumer written for version 1 finds what it read, where it read it."""
    draft = make_draft(rule_id="r", rule_title="t", level="high", kind="sequence", group_by="host",
                       group={"host": "h1"}, evidence=[with_step(_evidence(), "s1")], first_ms=1, last_ms=1)
    v2 = score_alert(draft)  # type: ignore[arg-type]
    for key, value in VERSION_1.items():
        assert type(v2[key]) is type(value), key
    for key in VERSION_1["evidence"][0]:
        assert key in v2["evidence"][0]
    assert {f["name"] for f in VERSION_1["severity"]["factors"]} <= {f["name"] for f in v2["severity"]["factors"]}
    assert set(v2) - set(VERSION_1) == {"rule_kind", "group", "details", "links", "context"}


@pytest.mark.parametrize(("group_by", "kind"), [
    ("host", "host"), ("user", "user"), ("source.ip", "ip"), (["source.ip", "destination.ip"], "ip"),
    ("cloud.principal", "cloud_principal"), ("userIdentity.arn", "cloud_principal"),
    (["host.name", "source.ip"], "host"), ("user.name", "user"),
])
def test_entity_type_follows_the_group(group_by: str | list[str], kind: str) -> None:
    assert entity_type(group_by, {}) == kind
    draft = make_draft(rule_id="r", rule_title="t", level="low", kind="sigma:event_count", group_by=group_by,
                       group={"x": "v"}, evidence=[with_step(_evidence(), "s")], first_ms=1, last_ms=1)
    assert Alert.model_validate(score_alert(draft)).entity_type == kind  # type: ignore[arg-type]


def _evidence(**event: Any) -> dict[str, Any]:
    hit = {"hit_id": "h:r", "timestamp_ms": 1, "rule_id": "r", "techniques": ["T1078"], "tactics": ["initial-access"],
           "host": "h1", "user": "ann", "event": {"id": "e1", "raw_sha256": "h", **event}}
    return evidence_of(hit)


def test_sign_in_facts_ride_on_the_evidence_on_both_correlation_paths() -> None:
    auth = {"authentication": {"mfa": False, "outcome": "success", "session_id": "x"},
            "source": {"geo": {"country_iso_code": "KP"}}}
    ev = _evidence(**auth)
    assert ev["authentication"] == {"mfa": False, "outcome": "success", "country": "KP"}
    assert "authentication" not in _evidence()  # most events: nothing added
    # The JVM path rebuilds the entry from the hit row's evidence JSON (udfs.analyze): the same entry.
    compact = {k: v for k, v in ev.items() if k not in ("host", "user", "asset_criticality")}
    bundle = SEPARATORS["unit"].join([json.dumps({**compact, "crit": None}), "h1", "ann", ""])
    assert evidence_entry(bundle, InventoryIndex()) == ev
    draft = make_draft(rule_id="r", rule_title="t", level="medium", kind="sequence", group_by="user",
                       group={"user": "ann"}, evidence=[with_step(ev, "s")], first_ms=1, last_ms=1)
    alert = score_alert(draft)  # type: ignore[arg-type]
    assert alert["evidence"][0]["authentication"]["mfa"] is False
    assurance = next(f for f in alert["severity"]["factors"] if f["name"] == "identity_assurance")
    assert assurance["weight"] == 1.15 and "without MFA (e1)" in assurance["reason"]
