"""The severity formula: every factor explained and bounded, a signal scored like an alert, and the
seed's three cases exactly (through the reference engine: the job's own code without Flink; the same
cases run through ``ttpflow run`` in tests/integration/test_scoring_cases.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.alert import Alert
from schemas.config import JobConfig
from udfs.analyze import Analyzer
from udfs.link.inventory import load_inventory
from udfs.score import BASE_SCORE, Scorer, label_for, score_alert
from udfs.score.formula import combine, factor
from udfs.score.roles import load_role_table
from udfs.score.subject import Observation
from udfs.testing.reference import reference_alerts

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "fixtures" / "scoring" / "seed_cases.jsonl"
CASE_ASSETS = ROOT / "tests" / "fixtures" / "scoring" / "assets"
FACTOR_NAMES = ["rule_level", "asset_criticality", "role_technique", "exposure", "data_sensitivity",
                "privilege_tier", "progression", "identity_assurance", "change_window"]


def draft(criticality: int | None, level: str = "high") -> dict[str, Any]:
    def ev(n: int, tid: str, tactics: list[str]) -> dict[str, Any]:
        return {
            "step": f"s{n}",
            "timestamp_ms": 1_714_557_600_000 + n,
            "event_id": f"e{n}",
            "raw_sha256": f"h{n}",
            "source_format": "plain_json",
            "rule_id": "r",
            "techniques": [tid],
            "tactics": tactics,
            "host": "h1",
            "user": None,
            "asset_criticality": criticality,
        }

    return {
        "alert_id": "a1",
        "rule_id": "seq",
        "rule_title": "t",
        "rule_level": level,
        "rule_kind": "sequence",
        "group_by": "host",
        "entity": "h1",
        "group": {"host": "h1"},
        "first_ms": 1,
        "last_ms": 2,
        "evidence": [
            ev(1, "T1055", ["privilege-escalation", "defense-evasion"]),
            ev(2, "T1071", ["command-and-control"]),
        ],
        "links": [],
        "details": {"window": "15m"},
    }


def test_alert_validates_and_explains_every_factor() -> None:
    alert = Alert.model_validate(score_alert(draft(8)))
    assert [f.name for f in alert.severity.factors] == FACTOR_NAMES
    assert all(f.reason and "\n" not in f.reason for f in alert.severity.factors)  # one sentence each
    assert alert.techniques == ["T1055", "T1071"]
    assert alert.tactics == ["privilege-escalation", "defense-evasion", "command-and-control"]
    assert alert.schema_version == 2 and alert.severity.base == 65


def test_the_score_is_the_base_times_the_listed_weights() -> None:
    """A reader can redo the arithmetic from the alert alone."""
    severity = score_alert(draft(10))["severity"]
    product = severity["base"] * math.prod(f["weight"] for f in severity["factors"])
    assert severity["score"] == min(100, round(product))


def test_the_draft_fields_reach_the_alert() -> None:
    alert = score_alert(draft(8))
    assert (alert["rule_kind"], alert["group"], alert["details"], alert["links"]) == \
        ("sequence", {"host": "h1"}, {"window": "15m"}, [])


def test_critical_asset_scores_above_lab_asset() -> None:
    crown = score_alert(draft(10))["severity"]["score"]
    lab = score_alert(draft(1))["severity"]["score"]
    assert crown > lab
    assert 0 <= lab <= crown <= 100


def test_no_criticality_leaves_the_factor_neutral_and_says_so() -> None:
    crit = next(f for f in score_alert(draft(None))["severity"]["factors"] if f["name"] == "asset_criticality")
    assert crit["weight"] == 1.0 and "neutral" in crit["reason"]


def test_labels_follow_score() -> None:
    assert [label_for(s) for s in (0, 24, 25, 44, 45, 64, 65, 84, 85, 100)] == [
        "informational", "informational", "low", "low", "medium", "medium", "high", "high", "critical", "critical"]


@given(base=st.sampled_from(sorted(BASE_SCORE.values())),
       weights=st.lists(st.floats(min_value=0.5, max_value=1.5), max_size=12))
def test_the_score_stays_in_bounds_and_its_label_follows(base: int, weights: list[float]) -> None:
    severity = combine(base, [factor(f"f{i}", w, "r") for i, w in enumerate(weights)])
    assert 0 <= severity["score"] <= 100
    assert severity["label"] == label_for(severity["score"])


def test_extra_factors_plug_in_after_the_formula() -> None:
    """The hook baselines and analyst feedback will use: one more weight, explained like the others."""
    def feedback(subject: Any) -> Any:
        return factor("analyst_feedback", 0.5, "analysts marked 9 of 10 alerts of this rule false positives")

    plain = Scorer().alert(draft(5))["severity"]
    fed = Scorer(extra=[feedback, lambda s: None]).alert(draft(5))["severity"]
    assert [f["name"] for f in fed["factors"]] == [*FACTOR_NAMES, "analyst_feedback"]
    assert fed["score"] == round(plain["score"] * 0.5)


def test_a_hit_is_scored_with_the_same_formula() -> None:
    hit = {"rule_id": "r", "level": "medium", "techniques": ["T1027"], "tactics": ["defense-evasion"],
           "host": "DEV-WS-01.corp.example", "user": "p.dev@corp.example",
           "event": {"id": "e1", "host": {"criticality": 5}}}
    scorer = Scorer(load_inventory(CASE_ASSETS), load_role_table(ROOT / "rules"))
    risk = scorer.hit(hit)
    assert [f["name"] for f in risk["factors"]] == FACTOR_NAMES
    assert scorer.hit_observation(hit) == Observation(ref="e1", host="dev-ws-01", user="p.dev",
                                                      techniques=("T1027",), tactics=("defense-evasion",),
                                                      criticality=5)
    assert risk == scorer.severity(scorer.subject("medium", [scorer.hit_observation(hit)]))


# -- the seed's cases, exactly ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cases() -> dict[str, Any]:
    config = JobConfig(assets_path=str(CASE_ASSETS))
    alerts = reference_alerts(CASES.read_bytes().splitlines(), config)
    return {"config": config, "alerts": {(a["rule_id"], a["entity"]): a for a in alerts}}


def test_t1027_alone_on_a_developer_workstation_is_low(cases: dict[str, Any]) -> None:
    """One hit, no correlation: the signal's risk is the formula over that hit."""
    analyzer = Analyzer(cases["config"])
    lines = CASES.read_bytes().splitlines()
    rows = analyzer.analyze("file", "cases", -1, 1, lines[0]).rows
    signals = [orjson.loads(r[-1]) for r in rows if r[0] == "hit"]
    assert [s["techniques"] for s in signals] == [["T1027"]]
    risk = signals[0]["risk"]
    assert risk["label"] == "low", risk
    role = next(f for f in risk["factors"] if f["name"] == "role_technique")
    assert role["weight"] < 1 and "developer_workstation" in role["reason"]
    assert not [a for a in cases["alerts"].values() if a["entity"] == "dev-ws-01"], "alone: no alert"


def test_t1027_then_t1048_on_a_domain_controller_is_critical(cases: dict[str, Any]) -> None:
    alert = cases["alerts"][("ttpflow-seq-obfuscation-then-exfiltration", "srv-dc-02")]
    assert alert["severity"]["label"] == "critical"
    weights = {f["name"]: f["weight"] for f in alert["severity"]["factors"]}
    assert weights["role_technique"] > 1 and weights["data_sensitivity"] > 1 and weights["privilege_tier"] > 1


def test_t1055_then_t1071_within_15_minutes_is_high(cases: dict[str, Any]) -> None:
    alert = cases["alerts"][("ttpflow-seq-injection-then-c2", "ws-finance-07")]
    assert alert["severity"]["label"] == "high"
    assert [e["asset_criticality"] for e in alert["evidence"]] == [8, 8]  # "high", as the seed writes it


def test_the_cases_are_the_only_alerts(cases: dict[str, Any]) -> None:
    assert set(cases["alerts"]) == {("ttpflow-seq-obfuscation-then-exfiltration", "srv-dc-02"),
                                    ("ttpflow-seq-injection-then-c2", "ws-finance-07")}
