"""Severity scoring: every factor explained, bounded, driven by the evidence."""

from __future__ import annotations

from typing import Any

from schemas.alert import Alert
from udfs.score import label_for, score_alert


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
        "group_by": "host",
        "entity": "h1",
        "first_ms": 1,
        "last_ms": 2,
        "evidence": [
            ev(1, "T1055", ["privilege-escalation", "defense-evasion"]),
            ev(2, "T1071", ["command-and-control"]),
        ],
    }


def test_alert_validates_and_explains_every_factor() -> None:
    alert = Alert.model_validate(score_alert(draft(8)))
    names = [f.name for f in alert.severity.factors]
    assert names == ["rule_level", "asset_criticality", "progression"]
    assert all(f.reason for f in alert.severity.factors)
    assert alert.techniques == ["T1055", "T1071"]
    assert alert.tactics == ["privilege-escalation", "defense-evasion", "command-and-control"]


def test_critical_asset_scores_above_lab_asset() -> None:
    crown = score_alert(draft(10))["severity"]["score"]
    lab = score_alert(draft(1))["severity"]["score"]
    assert crown > lab
    assert 0 <= lab <= crown <= 100


def test_no_criticality_means_no_criticality_factor() -> None:
    names = [f["name"] for f in score_alert(draft(None))["severity"]["factors"]]
    assert "asset_criticality" not in names


def test_labels_follow_score() -> None:
    assert [label_for(s) for s in (0, 25, 45, 65, 85, 100)] == [
        "informational",
        "low",
        "medium",
        "high",
        "critical",
        "critical",
    ]
