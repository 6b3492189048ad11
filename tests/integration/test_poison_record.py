"""One 3 MB record on an input topic stops nothing (issue 11, section 0).

It used to become a 3 MB dead letter that the dead-letter sink's producer refused
(RecordTooLargeException, max.request.size 1 MiB): the job failed, and with restarts it failed
again on the same record until its attempts ran out, so one poison record stopped all detection.

Here the record sits between the two steps of a T1055 -> T1071 sequence on one host. The job runs
with restarts off (the default), so any failure ends the ``ttpflow run`` process: a job still
running at the end never failed, and so never restarted. Read with read_committed: the alert and
the dead letter (truncated, with the payload's length and sha256) are both committed, once each.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.config import DEFAULT_DEAD_LETTER_MAX_BYTES
from tests.conftest import consume_from_kafka, create_kafka_topic
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job

MIN = 60_000
T0 = 1_714_557_600_000
BIG = 3 * 1024 * 1024
TOPIC_MAX = str(8 * 1024 * 1024)


def _produce_large(bootstrap: str, topic: str, payloads: list[bytes]) -> list[Any]:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             max_request_size=int(TOPIC_MAX))
    try:
        futures = [producer.send(topic, value=p) for p in payloads]
        producer.flush(timeout=60)
        return [f.get(timeout=60) for f in futures]
    finally:
        producer.close(timeout=30)


def _read(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in consume_from_kafka(bootstrap, topic, timeout_s=10)]


def _wait(what: str, probe: Callable[[], list[Any]], alive: Callable[[], None], timeout_s: float) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive()
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_3mb_record_mid_sequence_stops_neither_the_job_nor_the_alert(kafka_broker: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"ttpflow-poison-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    create_kafka_topic(kafka_broker, names["raw"], configs={"max.message.bytes": TOPIC_MAX})
    for key in ("alerts", "signals", "dead", "late"):  # Kafka's default 1 MiB record limit
        create_kafka_topic(kafka_broker, names[key])
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker,
        "--raw-topic", names["raw"], "--alerts-topic", names["alerts"], "--signals-topic", names["signals"],
        "--dead-letter-topic", names["dead"], "--late-topic", names["late"],
        "--group-id", f"poison-{suffix}", "--transactional-id-prefix", f"poison-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s", "--restart-attempts", "0",
    ]
    log = PROJECT_ROOT / ".ttpflow" / f"it-poison-job-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    poison = json.dumps(plain_event("poison", T0 + MIN, "poison-h1", "T1059", pad="A" * BIG)).encode()
    assert len(poison) > BIG
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)

        def alive() -> None:
            if proc.poll() is not None:
                tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-30:])
                raise AssertionError(f"the job ended (exit {proc.returncode}): it failed on a record\n{tail}")

        try:
            _produce_large(kafka_broker, names["raw"], [json.dumps(
                plain_event("warmup", T0 - 60 * MIN, "warmup-host", "T1082")).encode()])
            _wait("the warm-up signal", lambda: _read(kafka_broker, names["signals"]), alive, 120)
            sent = _produce_large(kafka_broker, names["raw"], [
                json.dumps(plain_event("p-a", T0, "poison-h1", "T1055", asset_criticality=9)).encode(),
                poison,
                json.dumps(plain_event("p-b", T0 + 3 * MIN, "poison-h1", "T1071")).encode(),
                json.dumps(plain_event("p-tick", T0 + 30 * MIN, "poison-tick", "T1082")).encode(),
            ])
            alerts = _wait("the sequence alert", lambda: [
                a for a in _read(kafka_broker, names["alerts"]) if a["entity"] == "poison-h1"], alive, 90)
            letters = _wait("the dead letter", lambda: [
                d for d in _read(kafka_broker, names["dead"]) if d["origin"]["offset"] == sent[1].offset], alive, 60)
            time.sleep(5)  # two more checkpoints: nothing is written twice, and the job is still up
            alive()

            assert [e["event_id"] for e in alerts[0]["evidence"]] == ["p-a", "p-b"]
            again = [a["id"] for a in _read(kafka_broker, names["alerts"]) if a["entity"] == "poison-h1"]
            assert again == [alerts[0]["id"]], "one committed alert, once"
            dead = [d for d in _read(kafka_broker, names["dead"]) if d["origin"]["topic"] == names["raw"]]
            assert len(dead) == 1, "one dead letter: the poison record, once"
            letter = letters[0]
            assert letter["reason"] == "oversized" and letter["truncated"] is True
            assert letter["length"] == len(poison)
            assert letter["sha256"] == hashlib.sha256(poison).hexdigest()
            kept = base64.b64decode(letter["raw"]) if letter["raw_encoding"] == "base64" else letter["raw"].encode()
            assert kept == poison[:DEFAULT_DEAD_LETTER_MAX_BYTES]
            signals = [s["event"]["id"] for s in _read(kafka_broker, names["signals"])]
            assert sorted(signals) == ["p-a", "p-b", "p-tick", "warmup"], "each signal once, none for the poison"
        finally:
            stop_job(proc)
