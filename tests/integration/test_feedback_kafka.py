"""Analyst feedback round trip on the real broker (issue 12, "Must show"): the job with
``--feedback-topic`` raises an alert, an analyst marks it false positive on the feedback topic, and
the next alert of the same rule on the same host scores lower, with ``analyst_feedback`` in its
factors saying why. Verdicts on an unknown alert id and malformed verdicts are dead letters.

The verdict reaches the scorers through the job's own alerts topic (read back and joined in the
JVM, udfs.feedback.sql) and the context broadcast (udfs.context); the second campaign is fed only
after the unknown verdict's wait is over, by which time the known one has long been joined.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event

MIN = 60_000
T0 = 1_714_557_600_000
RULE = "ttpflow-seq-injection-then-c2"
WAIT = "12s"


def _read(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in consume_from_kafka(bootstrap, topic, timeout_s=3, stop_at_end=True)]


def _until(what: str, probe: Callable[[], list[dict[str, Any]]], timeout_s: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"never saw {what} within {timeout_s} s")


def _campaign(prefix: str, start: int, host: str) -> list[bytes]:
    return [json.dumps(e).encode() for e in (
        plain_event(f"{prefix}-a", start, host, "T1055", asset_criticality=9),
        plain_event(f"{prefix}-b", start + 3 * MIN, host, "T1071", asset_criticality=9),
        plain_event(f"{prefix}-tick", start + 30 * MIN, f"{host}-tick", "T1082"),  # moves the watermark on
    )]


def test_a_false_positive_verdict_lowers_the_next_alert_and_unknown_ids_are_dead_letters(kafka_broker: str) -> None:
    started = time.monotonic()
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"ttpflow-fb-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late", "supp", "feedback")}
    for name in topics.values():
        create_kafka_topic(kafka_broker, name)
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker,
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"], "--suppressed-topic", topics["supp"],
        "--feedback-topic", topics["feedback"], "--feedback-wait", WAIT,
        "--group-id", f"fb-{suffix}", "--transactional-id-prefix", f"fb-{suffix}",
        # --idleness 5s and a quiet spell longer than that between the campaigns: before jobs/flink_job.py
        # turned idleness off at parallelism 1, the second campaign's hits were dropped as late by the
        # sequence's MATCH_RECOGNIZE (the watermark overtook them on the way); this test caught it.
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    log = PROJECT_ROOT / ".ttpflow" / f"it-feedback-job-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    host = "fb-host-1"
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            produce_to_kafka(kafka_broker, topics["raw"], _campaign("c1", T0, host))
            first = _until("the first alert", lambda: [
                a for a in _read(kafka_broker, topics["alerts"]) if a["entity"] == host], timeout_s=150)[0]
            assert first["rule_id"] == RULE
            assert "analyst_feedback" not in [f["name"] for f in first["severity"]["factors"]]

            produce_to_kafka(kafka_broker, topics["feedback"], [
                json.dumps({"alert_id": first["id"], "verdict": "false_positive", "analyst": "ann",
                            "comment": "red-team exercise", "at": "2026-11-30T07:00:00Z"}).encode(),
                json.dumps({"alert_id": "no-such-alert", "verdict": "true_positive", "analyst": "bob"}).encode(),
                b'{"alert_id": "x", "verdict": "maybe", "analyst": "bob"}',
            ])
            letters = _until("the unknown verdict's dead letter", lambda: [
                d for d in _read(kafka_broker, topics["dead"]) if d["reason"] == "unknown_alert_id"])
            assert json.loads(letters[0]["raw"])["alert_id"] == "no-such-alert"
            assert letters[0]["origin"]["topic"] == topics["feedback"] and letters[0]["origin"]["offset"] == 1
            invalid = [d for d in _read(kafka_broker, topics["dead"]) if d["reason"] == "invalid_feedback"]
            assert len(invalid) == 1 and invalid[0]["detail"].startswith("field verdict:")
            assert len(letters) == 1, "the known verdict joined its alert: no dead letter for it"

            produce_to_kafka(kafka_broker, topics["raw"], _campaign("c2", T0 + 60 * MIN, host))
            try:
                second = _until("the second alert", lambda: [
                    a for a in _read(kafka_broker, topics["alerts"])
                    if a["entity"] == host and a["id"] != first["id"]])[0]
            except AssertionError as err:  # say how far campaign 2 got
                signals = [s["event"]["id"] for s in _read(kafka_broker, topics["signals"])]
                late = [x["hit"]["event"]["id"] for x in _read(kafka_broker, topics["late"])]
                raise AssertionError(f"{err}; signals {signals}, late {late}, job running: {proc.poll() is None}, "
                                     f"log {log}") from None
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert second["rule_id"] == RULE
    feedback = [f for f in second["severity"]["factors"] if f["name"] == "analyst_feedback"]
    assert len(feedback) == 1 and feedback[0]["weight"] < 1.0
    assert feedback[0]["reason"].startswith(f"analysts marked 1 of 1 alerts of this rule on host {host} false positive")
    assert second["severity"]["score"] < first["severity"]["score"]
    print(f"feedback round trip: {first['severity']['score']} -> {second['severity']['score']} "
          f"in {time.monotonic() - started:.0f} s")
