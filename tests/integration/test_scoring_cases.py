"""The seed's three scoring cases end to end through ``ttpflow run`` (a real Flink MiniCluster), with
an ``--assets`` directory (hosts as CSV, identities as YAML) and criticality written as words:

- T1027 alone on a developer workstation: its signal's risk is low, and nothing alerts;
- T1027 then T1048 on a domain controller: a critical alert;
- T1055 then T1071 within 15 minutes: a high alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobrun import PROJECT_ROOT, FileRun, run_files, ttpflow

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "scoring"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FileRun:
    tmp = tmp_path_factory.mktemp("scoring")
    return run_files(tmp, [FIXTURES / "seed_cases.jsonl"], "--assets", str(FIXTURES / "assets"))


def _alert(run: FileRun, rule_id: str, entity: str) -> dict[str, Any]:
    found = [a for a in run.alerts if a["rule_id"] == rule_id and a["entity"] == entity]
    assert len(found) == 1, [(a["rule_id"], a["entity"]) for a in run.alerts]
    return found[0]


def test_t1027_alone_on_a_developer_workstation_is_low(run: FileRun) -> None:
    signals = [s for s in run.signals if s["event"]["id"] == "sc-a1"]
    assert [s["techniques"] for s in signals] == [["T1027"]]
    assert signals[0]["risk"]["label"] == "low", signals[0]["risk"]
    assert not [a for a in run.alerts if a["entity"] == "dev-ws-01"]


def test_t1027_then_t1048_on_a_domain_controller_is_critical(run: FileRun) -> None:
    alert = _alert(run, "ttpflow-seq-obfuscation-then-exfiltration", "srv-dc-02")
    assert alert["severity"]["label"] == "critical"
    assert alert["schema_version"] == 2 and alert["rule_kind"] == "sequence" and alert["group"] == {"host": "srv-dc-02"}
    assert alert["context"]["assets"][0]["role"] == "domain_controller"


def test_t1055_then_t1071_within_15_minutes_is_high(run: FileRun) -> None:
    alert = _alert(run, "ttpflow-seq-injection-then-c2", "ws-finance-07")
    assert alert["severity"]["label"] == "high"


def test_every_signal_carries_its_risk_and_only_the_cases_alert(run: FileRun) -> None:
    assert {s["event"]["id"] for s in run.signals} == {"sc-a1", "sc-b1", "sc-b2", "sc-c1", "sc-c2"}
    assert all(s["risk"]["factors"][0]["name"] == "rule_level" for s in run.signals)
    assert len(run.alerts) == 2 and not run.dead_letters and not run.late


def test_a_bad_inventory_stops_the_run_before_it_starts_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.csv"
    bad.write_text("name,criticality\nws-1,extreme\n")
    proc = ttpflow("run", "--input", str(FIXTURES / "seed_cases.jsonl"), "--output", str(tmp_path / "a.jsonl"),
                   "--assets", str(bad), check=False)
    assert proc.returncode == 2
    assert f"{bad}:2: field criticality:" in proc.stderr and "low, medium, high, critical" in proc.stderr
