"""Failures, proven: nothing lost, nothing duplicated.

A bounded stream with planted T1055 -> T1071 campaigns (one per host) and malformed records runs
through the job while something fails under it: the Kafka broker is stopped for 20 s and started
again (the job in the MiniCluster), or the TaskManager is killed with SIGKILL and a new one started
(the standalone cluster). Read with ``read_committed``, the alerts topic then holds every expected
alert exactly once and the dead-letter topic every malformed record exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobs.local.cluster import FlinkCluster
from jobs.local.kafka import LocalKafka, free_port
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job, ttpflow

MIN = 60_000
T0 = 1_714_557_600_000
HOSTS = 8  # campaigns: each must raise exactly one alert
SEQUENCE_RULE = "ttpflow-seq-injection-then-c2"


@dataclass(frozen=True)
class Topics:
    raw: str
    alerts: str
    signals: str
    dead: str
    late: str

    @classmethod
    def create(cls, bootstrap: str, prefix: str) -> Topics:
        topics = cls(*(f"{prefix}-{k}" for k in ("raw", "alerts", "signals", "dead", "late")))
        for name in (topics.raw, topics.alerts, topics.signals, topics.dead, topics.late):
            create_kafka_topic(bootstrap, name)
        return topics

    def job_args(self, suffix: str) -> list[str]:
        return [
            "--raw-topic", self.raw, "--alerts-topic", self.alerts, "--signals-topic", self.signals,
            "--dead-letter-topic", self.dead, "--late-topic", self.late, "--group-id", f"fail-{suffix}",
            "--transactional-id-prefix", f"fail-{suffix}", "--checkpoint-interval", "2s",
            "--out-of-orderness", "5s", "--idleness", "5s", "--restart-attempts", "30",
        ]


def first_half(tag: str) -> list[bytes]:
    """Every campaign's first step, half of the second steps, two malformed records."""
    records = [plain_event(f"{tag}-a{i}", T0 + i * MIN, f"{tag}-h{i}", "T1055") for i in range(HOSTS)]
    records += [plain_event(f"{tag}-b{i}", T0 + (i + 5) * MIN, f"{tag}-h{i}", "T1071") for i in range(HOSTS // 2)]
    records.sort(key=lambda r: r["timestamp"])  # in event-time order: no step falls behind the watermark
    return [json.dumps(r).encode() for r in records] + [b'{"event_id": "bad-1", "timestamp": ', b"\xff\xfe not json"]


def second_half(tag: str) -> list[bytes]:
    """The other second steps, two more malformed records, and a tick that closes every window."""
    records = [plain_event(f"{tag}-b{i}", T0 + (i + 5) * MIN, f"{tag}-h{i}", "T1071") for i in range(HOSTS // 2, HOSTS)]
    records.append(plain_event(f"{tag}-tick", T0 + 60 * MIN, f"{tag}-tick", "T1082"))
    return [json.dumps(r).encode() for r in records] + [b"[1, 2", b'{"no": "timestamp"}']


def committed(bootstrap: str, topic: str, timeout_s: float = 10) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in consume_from_kafka(bootstrap, topic, timeout_s=timeout_s)]


def wait_for(bootstrap: str, topic: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = committed(bootstrap, topic, timeout_s=5)
        if len(records) >= count:
            return records
        time.sleep(1)
    return records


def assert_exactly_once(bootstrap: str, topics: Topics, tag: str, raw_offsets: list[int]) -> None:
    """Every campaign's alert once and nothing else; every malformed record's dead letter once."""
    alerts = wait_for(bootstrap, topics.alerts, HOSTS, timeout_s=150)
    time.sleep(6)  # later checkpoints (2 s apart) must commit nothing more
    alerts = committed(bootstrap, topics.alerts)
    per_host = Counter(a["entity"] for a in alerts if a["rule_id"] == SEQUENCE_RULE)
    assert per_host == Counter({f"{tag}-h{i}": 1 for i in range(HOSTS)}), per_host
    assert len({a["id"] for a in alerts}) == len(alerts) == HOSTS
    for alert in alerts:
        host = alert["entity"].removeprefix(f"{tag}-h")
        assert [e["event_id"] for e in alert["evidence"]] == [f"{tag}-a{host}", f"{tag}-b{host}"]
    assert committed(bootstrap, topics.late, timeout_s=5) == [], "a replayed step fell behind the watermark"
    letters = wait_for(bootstrap, topics.dead, len(raw_offsets), timeout_s=30)
    assert sorted(d["origin"]["offset"] for d in letters) == sorted(raw_offsets)


def malformed_offsets(metadata: list[Any], payloads: list[bytes]) -> list[int]:
    """The offsets of the records that are not valid plain events (they must be dead-lettered)."""
    offsets = []
    for meta, payload in zip(metadata, payloads, strict=True):
        try:
            record = json.loads(payload)
            valid = isinstance(record, dict) and "timestamp" in record
        except (ValueError, UnicodeDecodeError):
            valid = False
        if not valid:
            offsets.append(meta.offset)
    return offsets


# -- the broker stops for 20 s ------------------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test alone: stopping it must not disturb the session's broker."""
    broker = LocalKafka(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka",
                        stop_with_parent=True)
    broker.start(timeout_s=120)
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_outage_of_20s_loses_and_duplicates_nothing(own_broker: LocalKafka, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:8]
    tag = f"bo{suffix[:4]}"
    topics = Topics.create(bootstrap, f"ttpflow-bo-{suffix}")
    log = PROJECT_ROOT / ".ttpflow" / f"it-broker-outage-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", bootstrap, *topics.job_args(suffix)]
    with log.open("w") as sink:
        job = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            payloads = first_half(tag)
            offsets = malformed_offsets(produce_to_kafka(bootstrap, topics.raw, payloads), payloads)
            before = wait_for(bootstrap, topics.alerts, 1, timeout_s=150)
            assert before, f"no alert before the outage; {log}"
            own_broker.stop()
            time.sleep(20)
            assert job.poll() is None, f"the job exited while the broker was down; see {log}"
            own_broker.start(timeout_s=120)
            payloads = second_half(tag)
            offsets += malformed_offsets(produce_to_kafka(bootstrap, topics.raw, payloads), payloads)
            assert_exactly_once(bootstrap, topics, tag, offsets)
            assert job.poll() is None, f"the job did not survive the outage; see {log}"
        finally:
            stop_job(job)


# -- the TaskManager is killed ------------------------------------------------------------------


def taskmanager_pids(cluster_dir: Path) -> list[int]:
    pids = []
    for pid_file in (cluster_dir / "pid").glob("*taskexecutor*.pid"):
        for line in pid_file.read_text().split():
            try:
                os.kill(int(line), 0)
            except (ProcessLookupError, ValueError):
                continue
            pids.append(int(line))
    return pids


def test_taskmanager_killed_mid_stream_loses_and_duplicates_nothing(
    flink_cluster: list[str], kafka_broker: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    tag = f"tm{suffix[:4]}"
    topics = Topics.create(kafka_broker, f"ttpflow-tm-{suffix}")
    cluster_dir = Path(flink_cluster[5])
    cluster = FlinkCluster(state_dir=cluster_dir, rest_port=int(flink_cluster[1]))
    job_id = ttpflow("submit", *flink_cluster, "--bootstrap-servers", kafka_broker, "--",
                     *topics.job_args(suffix)).stdout.strip()
    try:
        cluster.wait_running(job_id)
        payloads = first_half(tag)
        offsets = malformed_offsets(produce_to_kafka(kafka_broker, topics.raw, payloads), payloads)
        assert wait_for(kafka_broker, topics.alerts, 1, timeout_s=150), "no alert before the kill"
        victims = taskmanager_pids(cluster_dir)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        payloads = second_half(tag)  # produced while no TaskManager runs
        offsets += malformed_offsets(produce_to_kafka(kafka_broker, topics.raw, payloads), payloads)
        ttpflow("cluster", "add-taskmanager", *flink_cluster, timeout_s=120)
        assert_exactly_once(kafka_broker, topics, tag, offsets)
        assert cluster.job_state(job_id) == "RUNNING"
    finally:
        ttpflow("stop", *flink_cluster, "--savepoint", str(cluster_dir / "sp-failures"), "--job-id", job_id,
                check=False)
