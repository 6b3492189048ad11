"""A savepoint of the walking skeleton (state v1: partial matches per host) restores in this build
(state v2: partial matches per (rule, group), a link stage in front) and half-matched sequences
complete: one alert each, their evidence spanning both versions.

The v1 job is the skeleton's own code, taken from git at its commit and shipped to the workers with
``-pyfs`` (so they import it, not this checkout); the resume is this build's ``ttpflow resume``.
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

from jobs.cluster import FLINK_BIN, SAVEPOINT_META, FlinkCluster
from jobs.local_kafka import free_port
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, ttpflow
from tests.integration.test_cluster_savepoint import _wait_for_signal

V1_COMMIT = "45fe1fa663d716f90f45928a5faa0fe3522b6da3"  # the walking skeleton, state format 1
RULE = "ttpflow-seq-injection-then-c2"
MIN = 60_000
T0 = 1_714_557_600_000


@pytest.fixture(scope="module")
def v1_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("v1")
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", V1_COMMIT], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"the v1 commit is not in this checkout's history: {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    (target / "flink-conf" / "lib").symlink_to(PROJECT_ROOT / "flink-conf" / "lib")  # connector jars
    return target


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


def _submit_v1(cluster: FlinkCluster, v1: Path, job_args: list[str]) -> str:
    env = {**cluster._env(), "PYTHONPATH": str(v1)}  # the client builds the v1 graph from v1 code
    cmd = ["bash", str(FLINK_BIN / "flink"), "run", "-m", f"127.0.0.1:{cluster.rest_port}", "-d",
           "-py", str(v1 / "jobs" / "flink_job.py"), "-pyfs", str(v1),  # workers: v1 packages first on the path
           "-pyexec", sys.executable, "-pyclientexec", sys.executable, *job_args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=v1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next(line.split("JobID ")[1].strip() for line in proc.stdout.splitlines() if "JobID " in line)


def _produce(bootstrap: str, topic: str, *events: dict) -> None:
    produce_to_kafka(bootstrap, topic, [json.dumps(e).encode() for e in events])


def test_a_v1_savepoint_with_half_matched_sequences_completes_in_v2(
    cluster: tuple[FlinkCluster, list[str]], v1_tree: Path, kafka_broker: str, tmp_path: Path
) -> None:
    flink, opts = cluster
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"ttpflow-mig-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in topics.values():
        create_kafka_topic(kafka_broker, name)
    job_args = [
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"], "--group-id", f"mig-{suffix}",
        "--transactional-id-prefix", f"mig-{suffix}", "--checkpoint-interval", "2s", "--out-of-orderness", "5s",
        "--idleness", "5s",
    ]
    v1_job = _submit_v1(flink, v1_tree, ["--bootstrap-servers", kafka_broker, *job_args])
    flink.wait_running(v1_job)
    # mig-1's T1055 goes past the watermark before the savepoint (v1 keeps it as a partial match);
    # mig-2's stays behind it (v1 keeps it in its hit buffer). Both kinds of v1 state must carry over.
    _produce(kafka_broker, topics["raw"], plain_event("mig-1a", T0, "mig-1", "T1055"),
             plain_event("mig-2a", T0 + 2 * MIN, "mig-2", "T1055"),
             plain_event("mig-tick1", T0 + MIN, "mig-tick", "T1082"))
    for event_id in ("mig-1a", "mig-2a", "mig-tick1"):
        _wait_for_signal(kafka_broker, topics["signals"], event_id)
    time.sleep(3)  # periodic watermarks: T0 + 1m - 5s passes mig-1a, not mig-2a

    savepoint = Path(ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp"), "--job-id", v1_job).stdout.strip())
    # What a v1 `ttpflow stop` wrote: this build must accept an older state format.
    (savepoint / SAVEPOINT_META).write_text(json.dumps({"python_execution_mode": "process", "state_format": 1,
                                                         "written_by": "ttpflow"}))
    assert consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=5) == []

    job2 = ttpflow("resume", *opts, str(savepoint), "--bootstrap-servers", kafka_broker, "--", *job_args).stdout.strip()
    try:
        flink.wait_running(job2)
        _produce(kafka_broker, topics["raw"], plain_event("mig-1b", T0 + 5 * MIN, "mig-1", "T1071"),
                 plain_event("mig-2b", T0 + 6 * MIN, "mig-2", "T1071"),
                 plain_event("mig-tick2", T0 + 40 * MIN, "mig-tick", "T1082"))
        records = consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=120, expected=2)
        alerts = sorted((json.loads(r.value) for r in records), key=lambda a: a["entity"])
        assert [(a["rule_id"], a["entity"]) for a in alerts] == [(RULE, "mig-1"), (RULE, "mig-2")]
        assert [[e["event_id"] for e in a["evidence"]] for a in alerts] == [["mig-1a", "mig-1b"], ["mig-2a", "mig-2b"]]
    finally:
        ttpflow("stop", *opts, "--savepoint", str(tmp_path / "sp-final"), "--job-id", job2, check=False)
