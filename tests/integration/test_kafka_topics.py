"""`ttpflow kafka topics` on the real broker: output topics get LogAppendTime (new ones at creation,
existing ones altered), raw topics keep producer time; a record with an old event time written to
an output topic carries the broker's write time."""

from __future__ import annotations

import time
import uuid

from jobs.local.topics import topic_configs
from tests.conftest import consume_from_kafka, create_kafka_topic, produce_to_kafka
from tests.integration.jobrun import ttpflow

OLD_MS = 1_600_000_000_000  # 2020: what an event time from a replay of old telemetry looks like


def test_kafka_topics_creates_outputs_with_log_append_time(kafka_broker: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"tt-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    create_kafka_topic(kafka_broker, names["signals"])  # exists already, with producer time
    args = ["kafka", "topics", "--bootstrap-servers", kafka_broker, "--partitions", "2",
            "--raw-topic", names["raw"] + "=zeek", "--alerts-topic", names["alerts"],
            "--signals-topic", names["signals"], "--dead-letter-topic", names["dead"], "--late-topic", names["late"]]
    out = ttpflow(*args).stdout
    assert f"{names['signals']}: configured" in out and f"{names['alerts']}: created" in out

    configs = topic_configs(kafka_broker, names.values())
    assert configs[names["raw"]]["message.timestamp.type"] == "CreateTime"
    for role in ("alerts", "signals", "dead", "late"):
        assert configs[names[role]]["message.timestamp.type"] == "LogAppendTime", role

    assert "configured" not in ttpflow(*args).stdout  # nothing left to change: idempotent

    before = int(time.time() * 1000)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    try:
        producer.send(names["alerts"], value=b"{}", timestamp_ms=OLD_MS).get(timeout=30)
    finally:
        producer.close()
    produce_to_kafka(kafka_broker, names["raw"], [b"{}"])
    [alert] = consume_from_kafka(kafka_broker, names["alerts"], expected=1)
    assert alert.timestamp_type == 1 and alert.timestamp >= before - 1000  # LogAppendTime: the write, not 2020
    [raw] = consume_from_kafka(kafka_broker, names["raw"], expected=1)
    assert raw.timestamp_type == 0  # CreateTime
