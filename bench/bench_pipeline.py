"""The ceiling and the job, side by side, on the same generated events through a real Kafka broker.

    .venv/bin/python bench/bench_pipeline.py [--events 100000] [--bootstrap-servers H:P]

1. ceiling:  Kafka -> (raw-bytes source) -> identity Python map -> Kafka
2. ttpflow:  Kafka -> normalize -> watermarks -> detect -> correlate -> score -> Kafka (the real job)

Both run in the embedded MiniCluster with the job's own settings (tuned bundles), in each PyFlink
execution mode (process, thread). The rate is measured on the output topic's record write times
(first to last record), so JVM and job start-up are excluded; the job's output is its signals
topic, which backpressure from correlation slows down as well. Prints events/s and the ratios.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.local.kafka import LocalKafka, free_port  # noqa: E402
from tests.conftest import create_kafka_topic  # noqa: E402

T0 = 1_714_557_600_000
PROCESSES = ["explorer.exe", "chrome.exe", "powershell.exe", "svchost.exe", "cmd.exe", "outlook.exe", "rundll32.exe"]
TECHNIQUES = [None, None, None, None, "T1055", "T1071.001", "T1082"]


def generate(n: int, hosts: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        record = {
            "event_id": f"b{i}",
            "timestamp": T0 + i * 10 + rng.randrange(0, 5_000),  # ~100 events/s of event time, jittered
            "host": f"host-{rng.randrange(hosts):05d}",
            "user": f"user{rng.randrange(500)}",
            "process_name": rng.choice(PROCESSES),
            "src_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "dest_ip": f"203.0.113.{rng.randrange(1, 255)}",
        }
        tech = rng.choice(TECHNIQUES)
        if tech:
            record["attck_technique"] = tech
        out.append(json.dumps(record).encode())
    return out


def produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks=1)
    for payload in payloads:
        producer.send(topic, payload)
    producer.flush()
    producer.close()


def count_and_span(bootstrap: str, topic: str, expected: int, timeout_s: float) -> tuple[int, float]:
    """Read until ``expected`` records arrived; return (count, seconds between first and last write)."""
    count, first, last = count_and_window(bootstrap, topic, expected, timeout_s)
    return count, ((last or 0) - (first or 0)) / 1000


def count_and_window(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float,
    *,
    alive: Callable[[], bool] | None = None,
    idle_s: float | None = None,
) -> tuple[int, int | None, int | None]:
    """Read ``topic`` (every partition) until ``expected`` records arrived, ``timeout_s`` passed,
    ``alive()`` turned false, or (``idle_s``) nothing new came for that long after a first record.
    Returns (count, first write time ms, last write time ms): record timestamps, i.e. write times
    on a topic with ``message.timestamp.type=LogAppendTime``."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_uncommitted",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    partitions = sorted(consumer.partitions_for_topic(topic) or {0})
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    count, first, last = 0, None, None
    deadline = time.monotonic() + timeout_s
    next_report = time.monotonic() + 10
    last_progress = time.monotonic()
    while count < expected and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_report:
            print(f"  {topic}: {count:,}/{expected:,}", file=sys.stderr, flush=True)
            next_report += 10
            if alive is not None and not alive():
                break
        if idle_s is not None and count and now - last_progress > idle_s:
            break
        for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
            last_progress = time.monotonic()
            for record in records:
                count += 1
                first = record.timestamp if first is None else min(first, record.timestamp)
                last = record.timestamp if last is None else max(last, record.timestamp)
    consumer.close()
    return count, first, last


def expected_signals(payloads: list[bytes]) -> int:
    from schemas.event import Origin
    from udfs.detect.detector import load_detector
    from udfs.normalize.normalizer import Normalizer

    normalizer, detector = Normalizer(), load_detector()
    total = 0
    for payload in payloads:
        outcome = normalizer.normalize(payload, Origin(topic="bench", partition=0, offset=0))
        if outcome.event is not None:
            total += len(detector.detect(outcome.event))
    return total


def run_identity_job(bootstrap: str, raw: str, out: str, mode: str, parallelism: int = 1) -> None:
    """The ceiling: the same raw-bytes source and sink, with only an identity Python map between them."""
    from pyflink.common.typeinfo import Types
    from pyflink.datastream.connectors.base import DeliveryGuarantee

    from jobs.flink_job import environment, kafka_sink
    from schemas.config import JobConfig, Topics

    config = JobConfig(
        bootstrap_servers=bootstrap,
        topics=Topics(raw=(raw,)),
        consumer_group=f"id-{uuid.uuid4().hex[:6]}",
        python_execution_mode=mode,
        parallelism=parallelism,
    )
    env = environment(config, kafka=True, checkpointing=True)
    stream = job_source(env, config).map(
        lambda row: bytes(row[4]).decode("utf-8", "replace"), output_type=Types.STRING()
    )
    stream.sink_to(kafka_sink(config, out, "identity", DeliveryGuarantee.AT_LEAST_ONCE))
    env.execute("ceiling: identity")


def job_source(env, config):
    """The job's own raw-bytes Kafka source (``kafka_source`` takes the table environment since the
    job's correlation moved to SQL; older versions create their own)."""
    from pyflink.table import StreamTableEnvironment

    from jobs.flink_job import kafka_source

    if len(inspect.signature(kafka_source).parameters) >= 3:
        return kafka_source(env, config, StreamTableEnvironment.create(env))
    return kafka_source(env, config)


def timed(name: str, cmd: list[str], bootstrap: str, topic: str, expected: int, timeout_s: float) -> float:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            count, span = count_and_span(bootstrap, topic, expected, timeout_s)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if count < expected:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{name}: only {count}/{expected} records within {timeout_s:.0f}s\n{tail}")
    return span


def run_side(bootstrap: str, raw: str, mode: str, side: str, expected: int, timeout_s: float) -> float:
    """Run the ceiling or the job on ``raw`` from the beginning; seconds from first to last output."""
    sfx = uuid.uuid4().hex[:6]
    outputs = {k: f"bench-{side}-{k}-{sfx}" for k in ("out", "alerts", "dead", "late")}
    for name in outputs.values():
        # The job stamps records with their event time; LogAppendTime makes the broker stamp write
        # time, which is what the rate is measured on.
        create_kafka_topic(bootstrap, name, configs={"message.timestamp.type": "LogAppendTime"})
    py = sys.executable
    if side == "ceiling":
        cmd = [py, __file__, "--bootstrap-servers", bootstrap, "--identity-job", raw, outputs["out"], mode]
    else:
        cmd = [
            py,
            "-m",
            "jobs.cli",
            "run",
            "--bootstrap-servers",
            bootstrap,
            "--raw-topic",
            raw,
            "--signals-topic",
            outputs["out"],
            "--alerts-topic",
            outputs["alerts"],
            "--dead-letter-topic",
            outputs["dead"],
            "--late-topic",
            outputs["late"],
            "--group-id",
            f"bench-{sfx}",
            "--transactional-id-prefix",
            f"bench-{sfx}",
            "--python-execution-mode",
            mode,
        ]
    return timed(f"{side} ({mode})", cmd, bootstrap, outputs["out"], expected, timeout_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=2_000)
    parser.add_argument("--bootstrap-servers", help="use this broker instead of starting one")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--modes", default="process,thread", help="PyFlink execution modes to measure")
    parser.add_argument("--identity-job", nargs=3, metavar=("RAW", "OUT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.identity_job:
        run_identity_job(args.bootstrap_servers, *args.identity_job)
        return

    broker = None
    bootstrap = args.bootstrap_servers
    if not bootstrap:
        broker = LocalKafka(
            port=free_port(),
            controller_port=free_port(),
            data_dir=Path(tempfile.mkdtemp(prefix="ttpflow-bench-kafka-")),
            stop_with_parent=True,
        )
        broker.start()
        bootstrap = broker.bootstrap_servers
    try:
        payloads = generate(args.events, args.hosts)
        n_signals = expected_signals(payloads)
        raw = f"bench-raw-{uuid.uuid4().hex[:6]}"
        create_kafka_topic(bootstrap, raw)
        produce(bootstrap, raw, payloads)
        rows = []
        for mode in args.modes.split(","):
            ceiling = run_side(bootstrap, raw, mode, "ceiling", args.events, args.timeout)
            job = run_side(bootstrap, raw, mode, "ttpflow", n_signals, args.timeout)
            rows.append((mode, args.events / max(ceiling, 1e-3), args.events / max(job, 1e-3)))
        print(f"events: {args.events:,} ({args.hosts:,} hosts; {n_signals:,} technique hits)")
        print(f"{'python mode':<12} {'ceiling ev/s':>13} {'ttpflow ev/s':>13} {'ttpflow/ceiling':>16}")
        for mode, c_rate, j_rate in rows:
            print(f"{mode:<12} {c_rate:>13,.0f} {j_rate:>13,.0f} {j_rate / c_rate:>16.2f}")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
