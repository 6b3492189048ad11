"""Risk-based alerting end to end through ``ttpflow run`` (a real Flink MiniCluster, the rule as
MATCH_RECOGNIZE over the risk column): several low-risk signals on one host within the window raise
exactly one alert with those signals as evidence; the same signals spread beyond the window raise none.

Every signal here is an EDR-carried technique id (a medium hit, base 45) on a host of criticality
``low`` (weight 0.88): risk 40, label low. The rule sums low-or-higher signals per host over an hour
and needs 150: four signals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.config import JobConfig
from tests.integration.jobrun import FileRun, plain_event, run_files, write_jsonl
from udfs.testing.reference import reference_alerts

T0 = 1_714_557_600_000
MIN = 60_000
RULE = """kind: risk_threshold
id: test-risk-host-1h
title: Accumulated risk on one host within an hour
entity: host
window: 1h
threshold: 150
min_signals: 3
level: medium
signals:
  min_label: low
"""
TECHNIQUES = ["T1082", "T1016", "T1033", "T1057", "T1069"]  # discovery: no bundled sequence uses them


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("risk")


@pytest.fixture(scope="module")
def run(tmp: Path) -> FileRun:
    rules = tmp / "rules"
    (rules / "risk").mkdir(parents=True)
    (rules / "risk" / "host_1h.yaml").write_text(RULE)
    records = []
    for i, technique in enumerate(TECHNIQUES):  # ten minutes apart: the fourth crosses 150, the fifth re-arms
        records.append(plain_event(f"near-{i}", T0 + i * 10 * MIN, "ws-near", technique, asset_criticality="low"))
    for i, technique in enumerate(TECHNIQUES):  # forty minutes apart: at most two in any hour
        records.append(plain_event(f"far-{i}", T0 + i * 40 * MIN, "ws-far", technique, asset_criticality="low"))
    records.sort(key=lambda r: r["timestamp"])
    # compared with the reference engine: without baselines (see test_differential)
    return run_files(tmp, [write_jsonl(tmp / "input.jsonl", records)], "--rules-dir", str(rules), "--no-baselines")


def test_every_signal_is_low_risk(run: FileRun) -> None:
    assert len(run.signals) == 10 and not run.dead_letters and not run.late
    assert {(s["risk"]["score"], s["risk"]["label"]) for s in run.signals} == {(40, "low")}


def test_signals_within_the_window_raise_exactly_one_alert_with_them_as_evidence(run: FileRun) -> None:
    [alert] = [a for a in run.alerts if a["entity"] == "ws-near"]
    assert alert["rule_id"] == "test-risk-host-1h" and alert["rule_kind"] == "risk_threshold"
    assert alert["entity_type"] == "host" and alert["group"] == {"host": "ws-near"}
    assert [e["event_id"] for e in alert["evidence"]] == [f"near-{i}" for i in range(4)]
    assert {e["step"] for e in alert["evidence"]} == {"risk 40"}
    assert alert["details"] == {"risk": 160, "threshold": 150, "window_ms": 3_600_000, "min_signals": 3,
                                "signals": 4, "signals_not_shown": 0}
    assert alert["first_seen_ms"] == T0 and alert["last_seen_ms"] == T0 + 30 * MIN
    assert alert["techniques"] == TECHNIQUES[:4]


def test_the_same_signals_spread_beyond_the_window_raise_none(run: FileRun) -> None:
    assert [a["entity"] for a in run.alerts] == ["ws-near"]


def test_the_reference_engine_gives_the_same_alert(run: FileRun, tmp: Path) -> None:
    """The reference engine (the differential test's executable spec) on the same input."""
    config = JobConfig(rules_dir=str(tmp / "rules"))
    expected = reference_alerts((tmp / "input.jsonl").read_bytes().splitlines(), config)
    assert json.loads(json.dumps(run.alerts)) == json.loads(json.dumps(expected))
