"""Severity: a base from the rule's level, adjusted by factors, each one explained in the alert."""

from __future__ import annotations

from typing import Any

from schemas.alert import Alert, Evidence, ScoreFactor, Severity
from udfs.detect.catalog import Catalog, default_catalog

BASE_SCORE = {"informational": 10, "low": 25, "medium": 45, "high": 65, "critical": 80}
LABEL_FLOORS = [(85, "critical"), (65, "high"), (45, "medium"), (25, "low"), (0, "informational")]


def label_for(score: int) -> str:
    return next(label for floor, label in LABEL_FLOORS if score >= floor)


def _criticality_factor(evidence: list[dict[str, Any]]) -> ScoreFactor | None:
    values = [e["asset_criticality"] for e in evidence if e.get("asset_criticality") is not None]
    if not values:
        return None
    crit = max(values)
    # 5 is neutral; 10 doubles-down on crown jewels, 0 halves lab hosts.
    weight = round(0.5 + crit / 10, 2)
    return ScoreFactor(name="asset_criticality", weight=weight, reason=f"asset criticality {crit}/10")


def _progression_factor(tactics: list[str], catalog: Catalog) -> ScoreFactor | None:
    if len(tactics) < 2:
        return None
    span = catalog.tactic_rank(tactics[-1]) - catalog.tactic_rank(tactics[0])
    weight = round(1 + 0.05 * (len(tactics) - 1) + 0.02 * max(span, 0), 2)
    return ScoreFactor(
        name="progression",
        weight=weight,
        reason=f"{len(tactics)} tactics observed: {' -> '.join(tactics)}",
    )


def score_alert(draft: dict[str, Any], catalog: Catalog | None = None) -> dict[str, Any]:
    """A correlation draft (:class:`udfs.correlate.records.Draft`) to a validated :class:`Alert` as a plain dict."""
    catalog = catalog or default_catalog()
    evidence = draft["evidence"]
    techniques: list[str] = []
    for item in evidence:
        for tid in item["techniques"]:
            if tid not in techniques:
                techniques.append(tid)
    seen_tactics = {t for item in evidence for t in item.get("tactics", [])}
    tactics = [t for t in catalog.tactic_order if t in seen_tactics]
    base = BASE_SCORE[draft["rule_level"]]
    factors = [ScoreFactor(name="rule_level", weight=1.0, reason=f"rule level {draft['rule_level']}: base {base}")]
    score = float(base)
    for factor in (_criticality_factor(evidence), _progression_factor(tactics, catalog)):
        if factor is not None:
            factors.append(factor)
            score *= factor.weight
    final = max(0, min(100, round(score)))
    hosts = [e["host"] for e in evidence if e.get("host")]
    alert = Alert(
        id=draft["alert_id"],
        rule_id=draft["rule_id"],
        rule_title=draft["rule_title"],
        entity_type=draft["group_by"],
        entity=draft["entity"],
        host=hosts[0] if hosts else None,
        techniques=techniques,
        tactics=tactics,
        first_seen_ms=draft["first_ms"],
        last_seen_ms=draft["last_ms"],
        evidence=[Evidence.model_validate(e) for e in evidence],
        severity=Severity(score=final, label=label_for(final), factors=factors),  # type: ignore[arg-type]
    )
    return alert.model_dump(mode="json")
