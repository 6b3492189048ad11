"""The cluster path on a real standalone Flink session cluster started from the package's scripts:
submit, feed half a sequence through Kafka, stop with a savepoint, resume with one more rule (planned
before the others: operator uids are per rule), feed the rest: one alert."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.local.cluster import SAVEPOINT_META, FlinkCluster
from jobs.local.kafka import free_port
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, ttpflow

MIN = 60_000
T0 = 1_714_557_600_000


@pytest.fixture(scope="module")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    cluster_dir = tmp_path_factory.mktemp("flink")
    opts = ["--rest-port", str(free_port()), "--rpc-port", str(free_port()), "--cluster-dir", str(cluster_dir)]
    ttpflow("cluster", "start", *opts, timeout_s=180)
    try:
        yield opts
    finally:
        ttpflow("cluster", "stop", *opts, timeout_s=180, check=False)


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
    _wait_for_signal(kafka_broker, topics["signals"], "sp-a")

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
    finally:
        ttpflow("stop", *flink_cluster, "--savepoint", str(tmp_path / "sp-final"), "--job-id", job2, check=False)


def _wait_for_signal(bootstrap: str, topic: str, event_id: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in consume_from_kafka(bootstrap, topic, timeout_s=5):
            if json.loads(record.value)["event"].get("id") == event_id:
                return
        time.sleep(0.5)
    raise AssertionError(f"no signal for {event_id} within {timeout_s}s")
