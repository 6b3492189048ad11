"""The cluster path on a real standalone Flink session cluster started from the package's scripts:
submit, feed half a sequence through Kafka, stop with a savepoint, resume with one more rule (planned
before the others: operator uids are per rule), feed the rest: one alert.

The tests after the first reuse its final savepoint (it holds a half match of the extra rule) rather
than running another job to take one: resumed without that rule, Flink refuses it and ttpflow says
Flink's reason; with --allow-non-restored-state the job runs, and `ttpflow status` reads it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from jobs.local.cluster import SAVEPOINT_META, FlinkCluster
from jobs.local.rest import http_fetch
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, ttpflow, wait_for_signal

MIN = 60_000
T0 = 1_714_557_600_000
# What the first test leaves for the next ones: its final savepoint, rules folder and job options.
HANDOFF: dict[str, object] = {}


EXTRA_RULE = """kind: sequence
id: aaa-test-extra-rule
title: Discovery then exfiltration
group_by: host
within: 10m
steps:
  - techniques: [T1082]
  - techniques: [T1041]
"""


def test_half_matched_sequence_survives_stop_with_savepoint_and_resume_with_one_more_rule(
    flink_cluster: list[str], kafka_broker: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    topics = {k: f"ttpflow-sp-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in topics.values():
        create_kafka_topic(kafka_broker, name)
    job_args = [
        "--rules-dir", str(rules),
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"], "--group-id", f"sp-{suffix}",
        "--transactional-id-prefix", f"sp-{suffix}", "--checkpoint-interval", "2s", "--out-of-orderness", "5s",
        "--idleness", "5s",
    ]
    rest_port = int(flink_cluster[1])
    cluster = FlinkCluster(state_dir=Path(flink_cluster[5]), rest_port=rest_port)

    job_id = ttpflow("submit", *flink_cluster, "--bootstrap-servers", kafka_broker, "--", *job_args).stdout.strip()
    cluster.wait_running(job_id)
    produce_to_kafka(kafka_broker, topics["raw"], [json.dumps(plain_event("sp-a", T0, "sp-host", "T1055")).encode()])
    wait_for_signal(kafka_broker, topics["signals"], "sp-a")

    savepoint = ttpflow("stop", *flink_cluster, "--savepoint", str(tmp_path / "sp")).stdout.strip()
    assert (Path(savepoint) / "_metadata").is_file()
    assert json.loads((Path(savepoint) / SAVEPOINT_META).read_text())["python_execution_mode"] == "process"
    assert consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=5) == []

    (rules / "sequences" / "aaa_extra.yaml").write_text(EXTRA_RULE)  # sorts first: planned first
    resumed = ttpflow("resume", *flink_cluster, savepoint, "--bootstrap-servers", kafka_broker, "--", *job_args)
    job2 = resumed.stdout.strip()
    try:
        cluster.wait_running(job2)
        produce_to_kafka(kafka_broker, topics["raw"], [
            json.dumps(plain_event("sp-b", T0 + 5 * MIN, "sp-host", "T1071")).encode(),
            json.dumps(plain_event("sp-tick", T0 + 40 * MIN, "sp-tick", "T1082")).encode(),
        ])
        alerts = consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=90, expected=1)
        assert len(alerts) == 1
        time.sleep(6)  # two more checkpoints: still exactly one committed alert
        alerts = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=10)]
        assert len(alerts) == 1
        assert [e["event_id"] for e in alerts[0]["evidence"]] == ["sp-a", "sp-b"]
        # Half a sequence of a bundled rule, for the next test's resume (which drops the extra rule's state).
        produce_to_kafka(kafka_broker, topics["raw"], [
            json.dumps(plain_event("sp-d", T0 + 41 * MIN, "sp-host2", "T1055")).encode()])
        wait_for_signal(kafka_broker, topics["signals"], "sp-d")
    finally:
        final = ttpflow("stop", *flink_cluster, "--savepoint", str(tmp_path / "sp-final"), "--job-id", job2,
                        check=False)
        if final.returncode == 0:
            HANDOFF.update(savepoint=final.stdout.strip(), rules=rules, job_args=job_args, topics=topics)



def test_a_savepoint_with_state_of_a_removed_rule_is_refused_naming_it_and_allowed_on_request(
    flink_cluster: list[str], kafka_broker: str
) -> None:
    if "savepoint" not in HANDOFF:
        pytest.skip("needs the final savepoint of the test before (run the whole module)")
    savepoint, rules, job_args = str(HANDOFF["savepoint"]), Path(str(HANDOFF["rules"])), list(HANDOFF["job_args"])
    topics: dict[str, str] = HANDOFF["topics"]  # type: ignore[assignment]
    (rules / "sequences" / "aaa_extra.yaml").unlink()  # its operator holds the half match of host sp-tick
    resume = ["resume", *flink_cluster, savepoint, "--bootstrap-servers", kafka_broker]

    refused = ttpflow(*resume, "--", *job_args, check=False)
    assert refused.returncode == 2, refused.stderr[-3000:]
    err = refused.stderr.strip()
    # ttpflow names the rule from what `stop` recorded, before Flink is asked (Flink names only a hash;
    # its own reason, for savepoints without that record: tests/unit/test_flink_status.py)
    assert "aaa-test-extra-rule (no longer in the rule packs)" in err
    assert "--allow-non-restored-state" in err
    assert "Traceback" not in err and "\tat " not in err and "exit 31" not in err
    assert len(err.splitlines()) <= 4, err

    allowed = ttpflow(*resume, "--allow-non-restored-state", "--", *job_args)
    assert "dropping the savepoint's state of 1 rule(s): aaa-test-extra-rule" in allowed.stderr
    job3 = allowed.stdout.strip()
    cluster = FlinkCluster(state_dir=Path(flink_cluster[5]), rest_port=int(flink_cluster[1]))
    try:
        cluster.wait_running(job3)
        produce_to_kafka(kafka_broker, topics["raw"], [
            json.dumps(plain_event("sp-c", T0 + 45 * MIN, "sp-host", "T1082")).encode(),
            json.dumps(plain_event("sp-e", T0 + 46 * MIN, "sp-host2", "T1071")).encode(),
            json.dumps(plain_event("sp-tick2", T0 + 80 * MIN, "sp-tick", "T1082")).encode()])
        # The kept rule's half match survived the resume that dropped the removed rule's state.
        deadline = time.monotonic() + 90
        completed: list[dict] = []
        while time.monotonic() < deadline and not completed:
            completed = [a for a in (json.loads(r.value) for r in consume_from_kafka(
                kafka_broker, topics["alerts"], timeout_s=5)) if a["entity"] == "sp-host2"]
        assert [[e["event_id"] for e in a["evidence"]] for a in completed] == [["sp-d", "sp-e"]]
        status = _wait_for_status(flink_cluster, job3)
        cp = status["checkpoints"]
        assert cp["latest_id"] >= 1 and cp["latest_state_size"] > 0 and cp["latest_age_ms"] >= 0
        assert cp["latest_duration_ms"] >= 0 and cp["failed"] >= 0
        names = [v["name"] for v in status["vertices"]]
        assert any(n.startswith("Source: ") for n in names) and any("alerts -> kafka" in n for n in names)
        lagging = [v for v in status["vertices"] if v["watermark_lag_ms"] is not None]
        # The event's time less the 5 s bound: the lag is now - that, far more than a year here.
        assert lagging and all(v["watermark_lag_ms"] > 365 * 86_400_000 for v in lagging)
        assert all(v["backpressure"] in ("ok", "low", "high", None) for v in status["vertices"])
        assert all(0 <= (v["busy_ratio"] or 0) <= 1 for v in status["vertices"])

        table = ttpflow("status", "--rest-port", flink_cluster[1]).stdout
        assert f"job {job3}  RUNNING" in table and "watermark lag" in table and "checkpoint #" in table
        assert len(table.splitlines()) == 3 + len(status["vertices"])
    finally:
        _cancel(cluster, job3)


def test_cluster_status_lists_task_managers_and_add_taskmanager_replaces_one(flink_cluster: list[str]) -> None:
    rest = f"http://127.0.0.1:{flink_cluster[1]}"
    before = [tm["id"] for tm in http_fetch(rest)("/taskmanagers")["taskmanagers"]]
    listed = ttpflow("cluster", "status", *flink_cluster).stdout
    assert listed.startswith("flink cluster running") and all(f"taskmanager {tm}" in listed for tm in before)

    out = ttpflow("cluster", "add-taskmanager", "--replace", *flink_cluster, timeout_s=180).stdout
    assert "taskmanager added" in out and "stopped pid" in out
    after = _wait_for(lambda: [tm["id"] for tm in http_fetch(rest)("/taskmanagers")["taskmanagers"]],
                      lambda ids: len(ids) == len(before), timeout_s=60)
    assert not set(after) & set(before)  # the new one is there, the old one is gone

    # No TaskManager at all beside a running JobManager: `cluster start` starts just that.
    cluster = FlinkCluster(state_dir=Path(flink_cluster[5]), rest_port=int(flink_cluster[1]))
    for pid in cluster._task_manager_pids():
        os.kill(pid, signal.SIGTERM)
    _wait_for(cluster.task_manager_count, lambda n: n == 0, timeout_s=60)
    assert "no TaskManager" in ttpflow("cluster", "status", *flink_cluster).stdout
    started = ttpflow("cluster", "start", *flink_cluster, timeout_s=180).stdout
    assert "(started taskmanager)" in started
    assert cluster.running()


def _wait_for_status(flink_cluster: list[str], job_id: str, timeout_s: float = 90) -> dict:
    """`ttpflow status --json` once the job has a completed checkpoint and a watermark downstream."""
    deadline = time.monotonic() + timeout_s
    doc: dict = {}
    while time.monotonic() < deadline:
        out = ttpflow("status", "--rest-port", flink_cluster[1], "--job-id", job_id, "--json").stdout
        [doc] = json.loads(out)["jobs"]
        if doc["checkpoints"]["latest_id"] and any(v["watermark_lag_ms"] for v in doc["vertices"]):
            return doc
        time.sleep(2)
    raise AssertionError(f"no checkpoint or no watermark in `ttpflow status` within {timeout_s}s: {doc}")


def _wait_for(probe, done, timeout_s: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(1)
        value = probe()
    assert done(value), value
    return value


def _cancel(cluster: FlinkCluster, job_id: str) -> None:
    request = urllib.request.Request(f"{cluster.rest_url}/jobs/{job_id}?mode=cancel", method="PATCH")
    with contextlib.suppress(OSError):  # already gone: nothing to cancel
        urllib.request.urlopen(request, timeout=10).close()
