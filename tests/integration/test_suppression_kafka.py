"""The ``suppressed`` output on a real Kafka broker: a suppressed hit reaches ``--suppressed-topic``
through the transactional sink (read ``read_committed``), with its rule and reason, and is not a signal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = 1_714_557_600_000
PACK = """kind: suppression
id: test-kafka-lab
reason: lab hosts inject by design
owner: red-team
expires: 2099-12-31
match:
  techniques: [T1055]
  hosts: [ws-klab-*]
"""


def test_a_suppressed_hit_is_on_the_suppressed_topic_exactly_once(kafka_broker: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "suppressions" / "test.yaml").write_text(PACK)
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"ttpflow-it-sup-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late", "suppressed")}
    for name in names.values():
        create_kafka_topic(kafka_broker, name)
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker, "--rules-dir", str(rules),
        "--raw-topic", names["raw"], "--alerts-topic", names["alerts"], "--signals-topic", names["signals"],
        "--dead-letter-topic", names["dead"], "--late-topic", names["late"], "--suppressed-topic", names["suppressed"],
        "--group-id", f"it-{suffix}", "--transactional-id-prefix", f"it-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    log = PROJECT_ROOT / ".ttpflow" / f"it-suppression-kafka-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            events = [plain_event("klab-inj", T0, "ws-klab-1", "T1055"),
                      plain_event("kplain-inj", T0 + 1000, "ws-kplain-1", "T1055")]
            produce_to_kafka(kafka_broker, names["raw"], [json.dumps(e).encode() for e in events])
            records = consume_from_kafka(kafka_broker, names["suppressed"], timeout_s=180, expected=1,
                                         stop_at_end=False)
            deadline = time.monotonic() + 60  # the other hit is a signal: both were analyzed
            signals: list[dict] = []
            while time.monotonic() < deadline and not signals:
                signals = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, names["signals"],
                                                                           timeout_s=5)]
        finally:
            stop_job(proc)
    assert len(records) == 1, log.read_text()[-3000:]
    record = json.loads(records[0].value)
    assert (record["suppression_id"], record["reason"], record["how"]) == (
        "test-kafka-lab", "lab hosts inject by design", "match")
    assert record["hit"]["event"]["id"] == "klab-inj"
    assert [s["event"]["id"] for s in signals] == ["kplain-inj"]
