"""The job's metrics as Prometheus scrapes them: ``ttpflow run --metrics-port`` on a real broker, in
the MiniCluster with Flink's Prometheus reporter; the scrape shows ttpflow's own counters with the
values the input implies (records in = records fed, dead letters by reason, hits per rule, the
alert and its latency, the event-time lag histogram) next to Flink's own series."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict

from tests.conftest import create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job

MIN = 60_000
T0 = 1_714_557_600_000
PREFIX = "flink_taskmanager_job_task_operator_"
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric name -> [(labels, value)] of one scrape ({} while nothing listens)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    series: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            series[match.group(1)].append((dict(LABEL.findall(match.group(2) or "")), float(match.group(3))))
    return series


def _total(series: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in series.get(PREFIX + name, []) if all(got.get(k) == x for k, x in labels.items()))


def test_prometheus_scrape_shows_ttpflow_counters(kafka_broker: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = {k: f"ttpflow-prom-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late", "suppressed")}
    for name in topics.values():
        create_kafka_topic(kafka_broker, name)
    port = _free_port()
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", kafka_broker, "--metrics-port", str(port),
        "--raw-topic", topics["raw"], "--alerts-topic", topics["alerts"], "--signals-topic", topics["signals"],
        "--dead-letter-topic", topics["dead"], "--late-topic", topics["late"],
        "--suppressed-topic", topics["suppressed"],
        "--group-id", f"prom-{suffix}", "--transactional-id-prefix", f"prom-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    # A sequence on one host (T1055 then T1071: the bundled injection-then-C2 rule), a later event
    # that moves the watermark past it, plain hits, and two records that are not JSON.
    records: list[bytes] = [json.dumps(r).encode() for r in [
        plain_event("p-a", T0, "prom-h1", "T1055", asset_criticality=9),
        plain_event("p-b", T0 + 3 * MIN, "prom-h1", "T1071"),
        *[plain_event(f"p-n{i}", T0 + 4 * MIN + i, f"prom-h{i + 2}", "T1082") for i in range(6)],
        plain_event("p-tick", T0 + 30 * MIN, "prom-tick", "T1082"),
    ]] + [b"not json", b'{"event_id": "cut", "timestamp": "2024-05-01T10:']
    log = PROJECT_ROOT / ".ttpflow" / f"it-prom-job-{suffix}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            produce_to_kafka(kafka_broker, topics["raw"], records)
            deadline = time.monotonic() + 85
            series: dict[str, list[tuple[dict[str, str], float]]] = {}
            while time.monotonic() < deadline and proc.poll() is None:
                series = _scrape(port)
                if _total(series, "records_in") >= len(records) and _total(series, "alerts") >= 1:
                    break
                time.sleep(1)
            assert proc.poll() is None, f"the job stopped; see {log}"
        finally:
            stop_job(proc)

    assert series, f"nothing served on 127.0.0.1:{port}/metrics; see {log}"
    assert _total(series, "records_in") == len(records)
    assert _total(series, "events_parsed") == len(records) - 2
    assert _total(series, "dead_letters") == 2
    assert _total(series, "dead_letter_records", dead_letter="not_json") == 2
    assert _total(series, "technique_hits") >= len(records) - 2
    assert _total(series, "rule_hits") == _total(series, "technique_hits"), "every hit under some rule label"
    assert _total(series, "alerts") == 1
    assert _total(series, "event_to_alert_latency_ms_count") == 1
    # The events are from 2024: every lag lands above the day bound, in the last bucket ("+Inf",
    # which the reporter writes as "_Inf": docs/observability.md).
    assert _total(series, "event_time_lag_ms_count") == len(records) - 2
    day = [v for labels, v in series[PREFIX + "le_event_time_lag_ms_bucket"] if labels.get("le") == "86400000"]
    assert day == [0], "every bucket is served, the empty ones as 0"
    assert _total(series, "le_event_time_lag_ms_bucket", le="_Inf") == len(records) - 2
    # Flink's own series are there too: records per operator, and the job's checkpoints.
    assert series.get("flink_taskmanager_job_task_operator_numRecordsIn")
    assert any(name.startswith("flink_jobmanager_job_") and "Checkpoint" in name for name in series)
