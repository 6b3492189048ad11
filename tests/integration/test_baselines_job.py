"""Adaptive baselines end to end through ``ttpflow run`` (a real Flink MiniCluster): after 30 hours of
obfuscation hits (T1027) on a build server, a later alert of only T1027 there weighs less
(``technique_rarity`` < 1), and an alert with exfiltration (T1048), never seen on that role, weighs
more (> 1); the same run under ``--no-baselines`` has no such factor. The counts come from the JVM's
hourly windows through the context broadcast (udfs.baseline, docs/scoring.md "Adaptive baselines")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobrun import FileRun, plain_event, run_files

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
INVENTORY = """kind: asset_inventory
assets:
  - name: build-1
    role: build_server
"""


def _events() -> list[dict[str, Any]]:
    out = [plain_event(f"hist-{h}-{m}", T0 + h * H + m * 900_000, "build-1", "T1027")
           for h in range(30) for m in range(3)]  # 30 hours of routine packing: warms the role up
    out += [plain_event(f"late-{m}", T0 + 36 * H + m * 60_000, "build-1", "T1027") for m in range(10)]
    out += [plain_event("seq-1", T0 + 40 * H, "build-1", "T1027"),
            plain_event("seq-2", T0 + 40 * H + 120_000, "build-1", "T1048")]
    return out


def _rarity(alert: dict[str, Any]) -> dict[str, Any] | None:
    return next((f for f in alert["severity"]["factors"] if f["name"] == "technique_rarity"), None)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("baselines")
    (tmp / "inventory.yaml").write_text(INVENTORY)
    events = tmp / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in _events()))
    return events, tmp / "inventory.yaml"


def test_routine_technique_weighs_less_and_a_never_seen_one_more(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, inventory = inputs
    run: FileRun = run_files(tmp_path, [events], "--assets", str(inventory), "--out-of-orderness", "1s")
    assert not run.dead_letters
    routine = [a for a in run.alerts if a["rule_id"] == "ttpflow-risk-host-24h" and a["techniques"] == ["T1027"]
               and a["last_seen_ms"] >= T0 + 36 * H]
    assert routine, [(a["rule_id"], a["techniques"], a["last_seen_ms"]) for a in run.alerts]
    factor = _rarity(routine[-1])
    assert factor is not None and factor["weight"] < 1.0, routine[-1]["severity"]
    assert "T1027 on role build_server: decayed count" in factor["reason"]
    (sequence,) = [a for a in run.alerts if a["rule_id"] == "ttpflow-seq-obfuscation-then-exfiltration"]
    factor = _rarity(sequence)
    assert factor is not None and factor["weight"] > 1.0, sequence["severity"]
    # its own hit may be counted already (its window closed before the alert was scored): rare either way
    assert "T1048" in factor["reason"] and "rare there" in factor["reason"]


def test_no_baselines_leaves_the_factor_out(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, inventory = inputs
    run = run_files(tmp_path, [events], "--assets", str(inventory), "--out-of-orderness", "1s", "--no-baselines")
    assert run.alerts and all(_rarity(a) is None for a in run.alerts)
