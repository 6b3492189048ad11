"""Adaptive baselines survive stop-with-savepoint and resume on the standalone cluster (issue 12,
"Must show"): a job learns from 30 hours of obfuscation hits (T1027) on a build server, is stopped
with a savepoint and resumed; the first alert after the resume (the risk rule, over T1027 hits only,
before any new hourly window of that role closes) weighs T1027 as routine there, from what the
savepoint held: the decayed counts in the scorers' context broadcast state (and any window of the
history still open, in the window operator's state)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from jobs.local.cluster import FlinkCluster
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import plain_event, ttpflow, wait_for_signal

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z



def test_decayed_counts_survive_stop_with_savepoint_and_resume(
    flink_cluster: list[str], kafka_broker: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("kind: asset_inventory\nassets:\n  - name: bs-build-1\n    role: build_server\n")
    topics = {k: f"ttpflow-bsp-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in topics.values():
        create_kafka_topic(kafka_broker, name)
    job_args = [
        "--assets", str(inventory),
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"], "--group-id", f"bsp-{suffix}",
        "--transactional-id-prefix", f"bsp-{suffix}", "--checkpoint-interval", "2s", "--out-of-orderness", "5s",
        "--idleness", "5s",
    ]
    cluster = FlinkCluster(state_dir=Path(flink_cluster[5]), rest_port=int(flink_cluster[1]))
    job_id = ttpflow("submit", *flink_cluster, "--bootstrap-servers", kafka_broker, "--", *job_args).stdout.strip()
    cluster.wait_running(job_id)
    history = [plain_event(f"bsp-{h}-{m}", T0 + h * H + m * 900_000, "bs-build-1", "T1027")
               for h in range(30) for m in range(3)]
    history.append(plain_event("bsp-tick", T0 + 31 * H, "bs-other", "T1082"))  # closes the windows up to hour 30
    produce_to_kafka(kafka_broker, topics["raw"], [json.dumps(e).encode() for e in history])
    wait_for_signal(kafka_broker, topics["signals"], "bsp-tick", timeout_s=120)
    time.sleep(6)  # the closed windows' updates reach the scorers' broadcast state; checkpoints follow
    savepoint = ttpflow("stop", *flink_cluster, "--savepoint", str(tmp_path / "sp")).stdout.strip()
    assert (Path(savepoint) / "_metadata").is_file()

    resumed = ttpflow("resume", *flink_cluster, savepoint, "--bootstrap-servers", kafka_broker, "--", *job_args)
    job2 = resumed.stdout.strip()
    try:
        cluster.wait_running(job2)
        burst = [plain_event(f"bsp-late-{m}", T0 + 36 * H + m * 60_000, "bs-build-1", "T1027") for m in range(10)]
        burst.append(plain_event("bsp-tick2", T0 + 36 * H + 30 * 60_000, "bs-other", "T1082"))  # within hour 36
        produce_to_kafka(kafka_broker, topics["raw"], [json.dumps(e).encode() for e in burst])
        deadline = time.monotonic() + 120
        after: list[dict[str, Any]] = []
        while not after and time.monotonic() < deadline:
            alerts = [json.loads(r.value) for r in consume_from_kafka(kafka_broker, topics["alerts"], timeout_s=5)]
            after = [a for a in alerts if any(e["event_id"].startswith("bsp-late-") for e in a["evidence"])]
        assert after, "no alert after the resume"
        factor = next((f for f in after[0]["severity"]["factors"] if f["name"] == "technique_rarity"), None)
        assert factor is not None and factor["weight"] < 1.0, after[0]["severity"]["factors"]
        assert "T1027 on role build_server: decayed count" in factor["reason"]
    finally:
        request = urllib.request.Request(f"{cluster.rest_url}/jobs/{job2}?mode=cancel", method="PATCH")
        with contextlib.suppress(OSError):  # already gone: nothing to cancel
            urllib.request.urlopen(request, timeout=10).close()
