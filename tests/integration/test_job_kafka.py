"""The job on a real Kafka broker, in the embedded MiniCluster: raw topic in, four topics out.

One job runs for the module; each test feeds it its own hosts so the tests do not interfere.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job

MIN = 60_000
T0 = 1_714_557_600_000


@dataclass
class KafkaJob:
    bootstrap: str
    raw: str
    alerts: str
    signals: str
    dead_letter: str
    late: str

    def feed(self, records: list[dict[str, Any] | bytes]) -> list[Any]:
        payloads = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
        return produce_to_kafka(self.bootstrap, self.raw, payloads)

    def read(self, topic: str, expected: int | None = None, timeout_s: float = 60) -> list[dict[str, Any]]:
        records = consume_from_kafka(self.bootstrap, topic, timeout_s=timeout_s, expected=expected,
                                     stop_at_end=expected is None)
        return [json.loads(r.value) for r in records]

    def wait_for_signal(self, event_id: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(s["event"].get("id") == event_id for s in self.read(self.signals, timeout_s=5)):
                return
            time.sleep(0.5)
        raise AssertionError(f"the job never emitted a signal for {event_id}")


@pytest.fixture(scope="module")
def kafka_job(kafka_broker: str) -> Iterator[KafkaJob]:
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"ttpflow-it-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in names.values():
        create_kafka_topic(kafka_broker, name)
    job = KafkaJob(kafka_broker, names["raw"], names["alerts"], names["signals"], names["dead"], names["late"])
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker,
        "--raw-topic", job.raw, "--alerts-topic", job.alerts, "--signals-topic", job.signals,
        "--dead-letter-topic", job.dead_letter, "--late-topic", job.late,
        "--group-id", f"it-{suffix}", "--transactional-id-prefix", f"it-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    log = (PROJECT_ROOT / ".ttpflow").joinpath(f"it-kafka-job-{suffix}.log")
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            job.feed([plain_event("warmup", T0 - 60 * MIN, "warmup-host", "T1082")])
            job.wait_for_signal("warmup", timeout_s=120)
            yield job
        finally:
            stop_job(proc)


def test_sequence_alert_is_written_exactly_once(kafka_job: KafkaJob) -> None:
    kafka_job.feed([
        plain_event("k-a", T0, "kafka-h1", "T1055", asset_criticality=9),
        plain_event("k-b", T0 + 3 * MIN, "kafka-h1", "T1071"),
        plain_event("k-tick", T0 + 30 * MIN, "kafka-tick", "T1082"),
    ])
    deadline = time.monotonic() + 90
    mine: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not mine:
        mine = [a for a in kafka_job.read(kafka_job.alerts, timeout_s=5) if a["entity"] == "kafka-h1"]
        time.sleep(1)
    assert len(mine) == 1, "one committed alert for the campaign"
    time.sleep(5)  # later checkpoints commit nothing new for it
    again = [a for a in kafka_job.read(kafka_job.alerts, timeout_s=5) if a["entity"] == "kafka-h1"]
    assert [a["id"] for a in again] == [mine[0]["id"]]
    assert [e["event_id"] for e in mine[0]["evidence"]] == ["k-a", "k-b"]


def test_dead_letters_keep_bytes_and_source_offsets(kafka_job: KafkaJob) -> None:
    bad_utf8 = b'{"event_id": "x", "timestamp": "2024-05-01T10:00:00Z", "host": "\xff\xfe"}'
    truncated = b'{"event_id": "y", "timestamp": "2024-05-01T10:'
    metadata = kafka_job.feed([bad_utf8, truncated])
    deadline = time.monotonic() + 90
    letters: dict[int, dict[str, Any]] = {}
    wanted = {m.offset for m in metadata}
    while time.monotonic() < deadline and not wanted <= set(letters):
        for d in kafka_job.read(kafka_job.dead_letter, timeout_s=5):
            if d["origin"]["topic"] == kafka_job.raw:
                letters[d["origin"]["offset"]] = d
        time.sleep(1)
    first, second = letters[metadata[0].offset], letters[metadata[1].offset]
    assert first["reason"] == "invalid_utf8" and first["raw_encoding"] == "base64"
    assert base64.b64decode(first["raw"]) == bad_utf8
    assert second["reason"] == "not_json" and second["raw"].encode() == truncated
    assert second["origin"]["partition"] == metadata[1].partition


def test_hits_behind_the_watermark_go_to_late(kafka_job: KafkaJob) -> None:
    base = T0 + 24 * 60 * MIN
    kafka_job.feed([plain_event("l-ahead", base + 30 * MIN, "late-h1", "T1055")])
    kafka_job.wait_for_signal("l-ahead")
    time.sleep(2)  # a periodic watermark passes base+30m-5s
    kafka_job.feed([plain_event("l-straggler", base, "late-h2", "T1071")])
    deadline = time.monotonic() + 60
    late: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not late:
        late = [x for x in kafka_job.read(kafka_job.late, timeout_s=5) if x["hit"]["event"]["id"] == "l-straggler"]
        time.sleep(1)
    assert late and late[0]["reason"] == "behind_watermark"
    assert late[0]["watermark_ms"] >= base + 25 * MIN
