"""Savepoints of earlier releases, taken by those releases' own jobs, into this build.

- The previous main (state format 2, the SQL job): its savepoint restores with ``ttpflow resume``,
  and half-matched sequences on both correlation paths (JVM and Python) complete.
- The last release of the Python keyed operators (state format 1): ``ttpflow resume`` refuses its
  savepoint and says what to do; ``ttpflow upgrade`` starts the new job reading Kafka again from the
  longest rule window before the savepoint, so half-matched sequences complete: one alert each, with
  the id the old job would have given it.

An old job is that release's own code, taken from git at its commit and shipped to the workers with
``-pyfs`` (so they import it, not this checkout). In a shallow clone the commits are fetched; when
they cannot be, the tests fail and say so (they never skip).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.local.cluster import FLINK_BIN, SAVEPOINT_META, FlinkCluster
from jobs.local.kafka import free_port
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, THREE_STEP_SEQUENCE, plain_event, ttpflow, wait_for_signal

V1_COMMIT = "e755f9b31d21027ed61e4387e9d8bc3485faff63"  # the last main with Python keyed state (format 1)
PREVIOUS_MAIN = "2a55c854f39d0e82791c469bf69e94774c1df8d7"  # the SQL job before the renovation (format 2)
RULE = "ttpflow-seq-injection-then-c2"
MIN = 60_000
T0 = 1_714_557_600_000


def _archive(commit: str) -> bytes:
    def attempt() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", commit], capture_output=True)

    archive = attempt()
    if archive.returncode != 0:  # a shallow clone: fetch the release's commit, then try once more
        subprocess.run(["git", "-C", str(PROJECT_ROOT), "fetch", "--quiet", "origin", commit], capture_output=True)
        archive = attempt()
    if archive.returncode != 0:
        pytest.fail(f"commit {commit[:12]} is not in this checkout and could not be fetched "
                    f"({archive.stderr.decode().strip()[:200]}): run `git fetch --unshallow` and try again")
    return archive.stdout


def _release_tree(target: Path, commit: str) -> Path:
    subprocess.run(["tar", "-x", "-C", str(target)], input=_archive(commit), check=True)
    (target / "flink-conf" / "lib").symlink_to(PROJECT_ROOT / "flink-conf" / "lib")  # connector jars
    if (target / "udfs" / "jvm").is_dir():  # releases with JVM functions: this build's jar (same sources)
        (target / "udfs" / "jvm" / "target").symlink_to(PROJECT_ROOT / "udfs" / "jvm" / "target")
    return target


@pytest.fixture(scope="module")
def v1_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _release_tree(tmp_path_factory.mktemp("v1"), V1_COMMIT)


@pytest.fixture(scope="module")
def previous_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _release_tree(tmp_path_factory.mktemp("previous"), PREVIOUS_MAIN)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlinkCluster, list[str]]]:
    cluster_dir = tmp_path_factory.mktemp("flink")
    opts = ["--rest-port", str(free_port()), "--rpc-port", str(free_port()), "--cluster-dir", str(cluster_dir)]
    flink = FlinkCluster(state_dir=cluster_dir, rest_port=int(opts[1]), rpc_port=int(opts[3]))
    # Python workers put their working directory first on sys.path: start the cluster outside this
    # checkout, or the v1 job's workers would import this build's udfs instead of the shipped v1 ones.
    here = Path.cwd()
    os.chdir(cluster_dir)
    try:
        flink.start(timeout_s=180)
    finally:
        os.chdir(here)
    try:
        yield flink, opts
    finally:
        flink.stop()


def _submit_release(cluster: FlinkCluster, v1: Path, job_args: list[str]) -> str:
    env = {**cluster._env(), "PYTHONPATH": str(v1)}  # the client builds the v1 graph from v1 code
    cmd = ["bash", str(FLINK_BIN / "flink"), "run", "-m", f"127.0.0.1:{cluster.rest_port}", "-d",
           "-py", str(v1 / "jobs" / "flink_job.py"), "-pyfs", str(v1),  # workers: v1 packages first on the path
           "-pyexec", sys.executable, "-pyclientexec", sys.executable, *job_args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=v1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next(line.split("JobID ")[1].strip() for line in proc.stdout.splitlines() if "JobID " in line)


def _topics_and_job_args(bootstrap: str, prefix: str) -> tuple[dict[str, str], list[str]]:
    """Fresh topics for one test, and the job options that name them (fast checkpoints and watermarks)."""
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"ttpflow-{prefix}-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in topics.values():
        create_kafka_topic(bootstrap, name)
    job_args = [
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"], "--group-id", f"{prefix}-{suffix}",
        "--transactional-id-prefix", f"{prefix}-{suffix}", "--checkpoint-interval", "2s", "--out-of-orderness", "5s",
        "--idleness", "5s",
    ]
    return topics, job_args


def _produce(bootstrap: str, topic: str, *events: dict) -> None:
    produce_to_kafka(bootstrap, topic, [json.dumps(e).encode() for e in events])


def test_upgrade_replays_the_longest_window_and_completes_half_matched_sequences(
    cluster: tuple[FlinkCluster, list[str]], v1_tree: Path, kafka_broker: str, tmp_path: Path
) -> None:
    flink, opts = cluster
    topics, job_args = _topics_and_job_args(kafka_broker, "up")
    v1_job = _submit_release(flink, v1_tree, ["--bootstrap-servers", kafka_broker, *job_args])
    flink.wait_running(v1_job)
    # up-1 completes a sequence in the old job (its alert must not come twice downstream: same id);
    # up-2 is half matched when the old job stops.
    _produce(kafka_broker, topics["raw"], plain_event("up-1a", T0, "up-1", "T1055"),
             plain_event("up-1b", T0 + MIN, "up-1", "T1071"),
             plain_event("up-2a", T0 + 2 * MIN, "up-2", "T1055"),
             plain_event("up-tick1", T0 + 3 * MIN, "up-tick", "T1082"))
    old_alerts = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=90,
                                                                  expected=1)]
    assert [a["entity"] for a in old_alerts] == ["up-1"]
    wait_for_signal(kafka_broker, topics["signals"], "up-2a")

    savepoint = Path(ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp"), "--job-id", v1_job).stdout.strip())
    # What the old `ttpflow stop` wrote (this build's stop writes the current format).
    (savepoint / SAVEPOINT_META).write_text(json.dumps({"python_execution_mode": "process", "state_format": 1,
                                                         "written_by": "ttpflow"}))
    refused = ttpflow("resume", *opts, str(savepoint), "--bootstrap-servers", kafka_broker, "--", *job_args,
                      check=False)
    assert refused.returncode == 2 and "ttpflow upgrade" in refused.stderr

    job2 = ttpflow("upgrade", *opts, str(savepoint), "--bootstrap-servers", kafka_broker, "--",
                   *job_args).stdout.strip()
    try:
        flink.wait_running(job2)
        _produce(kafka_broker, topics["raw"], plain_event("up-2b", T0 + 6 * MIN, "up-2", "T1071"),
                 plain_event("up-tick2", T0 + 60 * MIN, "up-tick", "T1082"))
        deadline = time.monotonic() + 120
        alerts: list[dict] = []
        while time.monotonic() < deadline and not any(a["entity"] == "up-2" for a in alerts):
            alerts = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=5)]
        by_entity: dict[str, set[str]] = {}
        for alert in alerts:
            by_entity.setdefault(alert["entity"], set()).add(alert["id"])
        assert set(by_entity) == {"up-1", "up-2"}
        assert by_entity["up-1"] == {old_alerts[0]["id"]}, "replayed: raised again under the same id"
        up2 = next(a for a in alerts if a["entity"] == "up-2")
        assert [e["event_id"] for e in up2["evidence"]] == ["up-2a", "up-2b"]
    finally:
        ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp-final"), "--job-id", job2, check=False)


def test_a_savepoint_of_the_previous_main_resumes_and_completes_matches_on_both_paths(
    cluster: tuple[FlinkCluster, list[str]], previous_tree: Path, kafka_broker: str, tmp_path: Path
) -> None:
    import shutil

    flink, opts = cluster
    # Each release with its own bundled packs (as an upgrade ships them), plus a Python-path rule.
    rules = {}
    for name, tree in (("old", previous_tree), ("new", PROJECT_ROOT)):
        rules[name] = tmp_path / f"rules-{name}"
        shutil.copytree(tree / "rules", rules[name])
        (rules[name] / "sequences" / "three_steps.yaml").write_text(THREE_STEP_SEQUENCE)
    plan = ttpflow("rules", "check", "--rules-dir", str(rules["new"]), "--explain").stdout
    assert any("test-seq-three" in line and "python" in line for line in plan.splitlines()), plan
    topics, job_args = _topics_and_job_args(kafka_broker, "pm")
    old_job = _submit_release(flink, previous_tree, ["--bootstrap-servers", kafka_broker, "--rules-dir",
                                                     str(rules["old"]), *job_args])
    flink.wait_running(old_job)
    # pm-1: injection, waiting for C2 (the JVM sequence); pm-3: injection and discovery, waiting for
    # C2 (the Python-path three-step sequence, and the JVM one too).
    _produce(kafka_broker, topics["raw"], plain_event("pm-1a", T0, "pm-1", "T1055"),
             plain_event("pm-3a", T0 + MIN, "pm-3", "T1055"), plain_event("pm-3b", T0 + 2 * MIN, "pm-3", "T1082"),
             plain_event("pm-tick1", T0 + 3 * MIN, "pm-tick", "T1082"))
    wait_for_signal(kafka_broker, topics["signals"], "pm-tick1")
    savepoint = ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp"), "--job-id", old_job).stdout.strip()
    assert json.loads((Path(savepoint) / SAVEPOINT_META).read_text())["state_format"] == 2
    assert consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=3) == []

    job2 = ttpflow("resume", *opts, savepoint, "--bootstrap-servers", kafka_broker, "--", "--rules-dir",
                   str(rules["new"]), *job_args).stdout.strip()
    try:
        flink.wait_running(job2)
        _produce(kafka_broker, topics["raw"], plain_event("pm-1b", T0 + 5 * MIN, "pm-1", "T1071"),
                 plain_event("pm-3c", T0 + 6 * MIN, "pm-3", "T1071"),
                 plain_event("pm-tick2", T0 + 60 * MIN, "pm-tick", "T1082"))
        want = {("ttpflow-seq-injection-then-c2", "pm-1"), ("ttpflow-seq-injection-then-c2", "pm-3"),
                ("test-seq-three", "pm-3")}
        deadline = time.monotonic() + 120
        alerts: list[dict] = []
        while time.monotonic() < deadline and {(a["rule_id"], a["entity"]) for a in alerts} != want:
            alerts = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=5)]
        got = {(a["rule_id"], a["entity"]): [e["event_id"] for e in a["evidence"]] for a in alerts}
        assert len(alerts) == len(want) and set(got) == want, got
        assert got[("test-seq-three", "pm-3")] == ["pm-3a", "pm-3b", "pm-3c"], "restored from the Python path's state"
        assert got[("ttpflow-seq-injection-then-c2", "pm-1")] == ["pm-1a", "pm-1b"], "restored from the JVM's state"
    finally:
        ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp-final"), "--job-id", job2, check=False)
