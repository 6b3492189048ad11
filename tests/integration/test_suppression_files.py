"""Suppression in the real job (Flink MiniCluster, ``ttpflow run`` on files): a hit that would alert is
suppressed by a stateless rule (the alert is absent, the hit is on ``suppressed`` with the rule and its
reason), a companion rule suppresses only when its companion event is within the window, and an
expired rule is not applied (and said so).

One job run holds every scenario, each on its own hosts; each scenario is the bundled T1055 -> T1071
within 15 minutes sequence (rules/sequences/injection_then_c2.yaml), which alerts unless suppressed.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobrun import PROJECT_ROOT, FileRun, plain_event, run_files, write_jsonl

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = 1_714_557_600_000
SEQ = "ttpflow-seq-injection-then-c2"

PACK = """
suppressions:
  - kind: suppression
    id: test-lab-injection
    reason: the red team's lab hosts inject by design
    owner: red-team
    expires: 2099-12-31
    match:
      techniques: [T1055]
      hosts: [ws-slab-*]
      fields:
        process.name: {wildcard: "inject*.exe"}
  - kind: suppression
    id: test-deploy-c2
    reason: the deployment agent phones home right after a deployment
    owner: it-operations
    expires: 2099-12-31
    match:
      techniques: [T1071]
      hosts: [ws-dep-*]
    companion:
      within: 10m
      key: host
      match:
        fields:
          process.name: deploy.exe
  - kind: suppression
    id: test-update-around
    reason: the updater restarts its service around an update
    owner: it-operations
    expires: 2099-12-31
    match:
      techniques: [T1071]
      hosts: [ws-aro-*]
    companion:
      within: 10m
      direction: around
      key: host
      match:
        fields:
          process.name: update.exe
  - kind: suppression
    id: test-expired
    reason: an old exception nobody renewed
    owner: nobody
    expires: 2020-01-01
    match:
      hosts: [ws-old-*]
"""


def _pair(host: str, start: int, **injection: Any) -> list[dict[str, Any]]:
    """T1055 then T1071 five minutes later on ``host``: the bundled sequence alerts on it."""
    return [plain_event(f"{host}-inj", start, host, "T1055", **injection),
            plain_event(f"{host}-c2", start + 5 * MIN, host, "T1071", process_name="agent.exe")]


@dataclass
class SuppressionRun:
    run: FileRun
    suppressed: list[dict[str, Any]]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> SuppressionRun:
    tmp = tmp_path_factory.mktemp("suppression")
    rules = tmp / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "suppressions" / "test.yaml").write_text(PACK)
    events = [
        *_pair("ws-plain-1", T0),  # no rule names it: alerts
        *_pair("ws-slab-1", T0, process_name="injector.exe"),  # suppressed (host and field)
        *_pair("ws-slab-2", T0, process_name="calc.exe"),  # host matches, field does not: alerts
        # the deployment 3 minutes before the C2 hit: suppressed; 20 minutes before: alerts
        plain_event("dep1-deploy", T0 + 2 * MIN, "ws-dep-1", process_name="deploy.exe"),
        *_pair("ws-dep-1", T0),
        plain_event("dep2-deploy", T0 - 15 * MIN, "ws-dep-2", process_name="deploy.exe"),
        *_pair("ws-dep-2", T0),
        # a deployment on another host does not count (key: host)
        plain_event("dep3-deploy", T0 + 2 * MIN, "ws-other", process_name="deploy.exe"),
        *_pair("ws-dep-3", T0),
        *_pair("ws-old-1", T0),  # the expired rule would take it: it alerts
        # direction: around: a companion 3 minutes after the hit suppresses; none: alerts, not late
        *_pair("ws-aro-1", T0),
        plain_event("aro1-update", T0 + 8 * MIN, "ws-aro-1", process_name="update.exe"),
        *_pair("ws-aro-2", T0),
        plain_event("tick", T0 + 60 * MIN, "ws-tick", "T1082"),
    ]
    events.sort(key=lambda e: e["timestamp"])
    path = write_jsonl(tmp / "in.jsonl", events)
    out = tmp / "suppressed.jsonl"
    run = run_files(tmp, [path], "--rules-dir", str(rules), "--suppressed", str(out))
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return SuppressionRun(run, records)


def _alerted(job: SuppressionRun) -> set[str]:
    return {a["entity"] for a in job.run.alerts if a["rule_id"] == SEQ}


def test_a_suppressed_hit_does_not_alert_and_is_on_suppressed_with_rule_and_reason(job: SuppressionRun) -> None:
    assert "ws-plain-1" in _alerted(job) and "ws-slab-2" in _alerted(job)
    assert "ws-slab-1" not in _alerted(job)
    [record] = [r for r in job.suppressed if r["hit"]["host"] == "ws-slab-1"]
    assert record["suppression_id"] == "test-lab-injection"
    assert record["reason"] == "the red team's lab hosts inject by design"
    assert record["how"] == "match" and record["owner"] == "red-team"
    assert record["hit"]["event"]["id"] == "ws-slab-1-inj" and record["hit"]["techniques"] == ["T1055"]
    assert "risk" in record["hit"]  # the hit as it would have been signalled
    # not a signal either: it left the main path
    assert not [s for s in job.run.signals if s["event"].get("id") == "ws-slab-1-inj"]


def test_a_companion_within_the_window_suppresses_and_one_outside_does_not(job: SuppressionRun) -> None:
    alerted = _alerted(job)
    assert "ws-dep-1" not in alerted and "ws-aro-1" not in alerted
    assert {"ws-dep-2", "ws-dep-3", "ws-aro-2"} <= alerted
    [record] = [r for r in job.suppressed if r["hit"]["host"] == "ws-dep-1"]
    assert record["suppression_id"] == "test-deploy-c2" and record["how"] == "companion"
    assert record["reason"] == "the deployment agent phones home right after a deployment"
    assert record["companion"]["event_id"] == "dep1-deploy"
    assert record["companion"]["timestamp_ms"] == T0 + 2 * MIN
    assert record["hit"]["event"]["id"] == "ws-dep-1-c2"
    # the held hits no companion came for are ordinary signals again, and not late
    signalled = {s["event"].get("id") for s in job.run.signals}
    assert {"ws-dep-2-c2", "ws-dep-3-c2", "ws-aro-2-c2"} <= signalled and "ws-dep-1-c2" not in signalled
    [after] = [r for r in job.suppressed if r["hit"]["host"] == "ws-aro-1"]
    assert (after["suppression_id"], after["companion"]["event_id"]) == ("test-update-around", "aro1-update")
    assert job.run.late == []


def test_an_expired_rule_is_not_applied_and_the_job_says_so(job: SuppressionRun) -> None:
    assert "ws-old-1" in _alerted(job)
    assert not [r for r in job.suppressed if r["suppression_id"] == "test-expired"]
    warnings = [json.loads(line) for line in job.run.stderr.splitlines()
                if line.startswith("{") and "suppression rule not applied" in line]
    assert any(w.get("rule") == "test-expired" and "expired" in w.get("why", "") for w in warnings)


def test_only_the_expected_hits_are_suppressed(job: SuppressionRun) -> None:
    assert sorted(r["hit"]["event"]["id"] for r in job.suppressed) == ["ws-aro-1-c2", "ws-dep-1-c2", "ws-slab-1-inj"]


def _plan(rules_dir: Path, tmp: Path) -> str:
    """The job graph's JSON plan for ``rules_dir`` (built, not run)."""
    from dataclasses import replace

    from pyflink.table import StreamTableEnvironment

    from jobs import pipeline
    from jobs.flink_job import environment, file_source
    from schemas.config import JobConfig

    config = replace(JobConfig(), rules_dir=str(rules_dir))
    env = environment(config, kafka=False, checkpointing=False)
    t_env = StreamTableEnvironment.create(env)
    staged = tmp / "staged.jsonl"
    staged.write_text("")
    outputs = pipeline.build(file_source(t_env, staged), config, t_env)
    outputs.suppressed.print()
    return env.get_execution_plan()


def test_without_an_active_companion_rule_the_graph_has_no_join(tmp_path: Path) -> None:
    """The bundled pack (its companion example disabled) adds no operator: no interval join in the
    plan, whose joins are named by kind (the linking stages' temporal joins are there). That a
    companion rule adds the join is shown by the job run above: it suppresses only through it."""
    plan = _plan(PROJECT_ROOT / "rules", tmp_path)
    assert re.search(r'"type" : "TemporalJoin\[', plan)
    assert not re.search(r'"type" : "IntervalJoin\[', plan)
