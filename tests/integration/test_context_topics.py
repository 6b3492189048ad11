"""Context from a compacted Kafka topic, hot-reloaded: a job running with ``--assets-topic`` scores
a host with no criticality; an asset entry published while it runs (no restart) makes the next
signal of that host carry ``asset_criticality`` 1.2; a tombstone brings the neutral weight back; a
bad entry is a dead letter with the topic's offset, and the job goes on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, THREE_STEP_SEQUENCE, plain_event, stop_job

pytestmark = pytest.mark.integration

T0 = 1_714_557_600_000
HOST = f"ctx-hot-{uuid.uuid4().hex[:8]}"  # unique: the checkpoint check below looks for it
CHECKPOINTS = PROJECT_ROOT / ".ttpflow" / "checkpoints"  # where `ttpflow run` on Kafka keeps them


def _weight(signal: dict[str, Any]) -> float:
    return next(f["weight"] for f in signal["risk"]["factors"] if f["name"] == "asset_criticality")


def _checkpointed(entry: bytes, since: float, timeout_s: float) -> bool:
    """Some checkpoint completed after ``since`` holds ``entry`` (small operator state is inline in _metadata)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for meta in CHECKPOINTS.glob("*/chk-*/_metadata"):
            if meta.stat().st_mtime >= since and entry in meta.read_bytes():
                return True
        time.sleep(1)
    return False


def _n(signal: dict[str, Any]) -> int:
    return int(signal["event"]["id"].rsplit("-", 1)[1])


class Job:
    def __init__(self, bootstrap: str, names: dict[str, str]) -> None:
        self.bootstrap, self.names, self.n = bootstrap, names, 0

    def signals(self) -> list[dict[str, Any]]:
        records = consume_from_kafka(self.bootstrap, self.names["signals"], timeout_s=3)
        return [json.loads(r.value) for r in records]

    def signal_until(self, wanted: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict[str, Any]:
        """Feed one signal of HOST every round until one satisfies ``wanted``: the update's time of
        arrival at the scorer is not known from outside, so poll."""
        deadline = time.monotonic() + timeout_s
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self.n += 1
            event = plain_event(f"ctx-{self.n}", T0 + self.n * 1000, HOST, "T1082")
            produce_to_kafka(self.bootstrap, self.names["raw"], [json.dumps(event).encode()])
            time.sleep(1.5)
            seen = [s for s in self.signals() if s["host"] == HOST]
            found = [s for s in seen if wanted(s)]
            if found:
                return found[-1]
        raise AssertionError(f"no such signal of {HOST} in {timeout_s}s; weights seen: {[_weight(s) for s in seen]}")


def test_an_asset_update_takes_effect_without_a_restart(kafka_broker: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"  # the bundled pack and a Python-path rule: every operator that reads context runs
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "sequences" / "test_python_path.yaml").write_text(THREE_STEP_SEQUENCE)
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"ttpflow-it-ctx-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late", "assets")}
    for kind, name in names.items():
        create_kafka_topic(kafka_broker, name, configs={"cleanup.policy": "compact"} if kind == "assets" else None)
    bad = produce_to_kafka(kafka_broker, names["assets"], [(b"ctx-bad-01", b'{"criticality": "bogus"}')])[0]
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker,
        "--rules-dir", str(rules),
        "--raw-topic", names["raw"], "--alerts-topic", names["alerts"], "--signals-topic", names["signals"],
        "--dead-letter-topic", names["dead"], "--late-topic", names["late"], "--assets-topic", names["assets"],
        "--group-id", f"it-{suffix}", "--transactional-id-prefix", f"it-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    log = PROJECT_ROOT / ".ttpflow" / f"it-context-topics-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    job = Job(kafka_broker, names)
    with log.open("w") as sink:
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            before = job.signal_until(lambda s: True, timeout_s=120)  # the job is up
            assert _weight(before) == 1.0, "no criticality known yet: neutral"

            produce_to_kafka(kafka_broker, names["assets"], [(HOST.encode(), b'{"criticality": "critical"}')])
            after = job.signal_until(lambda s: _weight(s) == 1.2, timeout_s=45)
            crit = next(f for f in after["risk"]["factors"] if f["name"] == "asset_criticality")
            assert "10/10" in crit["reason"]
            # The broadcast state ("context": kind|key -> update) is in the checkpoints, so in savepoints.
            assert _checkpointed(f"asset|{HOST}".encode(), started, timeout_s=20)

            produce_to_kafka(kafka_broker, names["assets"], [(HOST.encode(), None)])  # tombstone: deleted
            last = _n(after)
            job.signal_until(lambda s: _n(s) > last and _weight(s) == 1.0, timeout_s=45)

            # Dead letters are committed with the next checkpoint (exactly-once sink): wait for it.
            records = consume_from_kafka(kafka_broker, names["dead"], timeout_s=60, expected=1, stop_at_end=False)
            mine = [json.loads(r.value) for r in records]
            assert [(d["reason"], d["origin"]["topic"], d["origin"]["offset"]) for d in mine] == [
                ("schema", names["assets"], bad.offset)]
            assert "criticality" in mine[0]["detail"]
            assert proc.poll() is None, "a bad context entry never stops the job"
        finally:
            stop_job(proc)
