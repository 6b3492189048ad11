"""Shared test fixtures: a real Kafka broker for integration tests, and helpers to use it.

The broker is the real Apache Kafka server (single KRaft node, see ``jobs/local/kafka.py``),
started once per test session on a free loopback port with its data in pytest's temporary folder,
so it never touches a developer's own broker (``ttpflow kafka start`` on 9092) or its data.

Fixtures (all need the ``integration`` marker; tests under ``tests/integration/`` get it
automatically, and a unit test that asks for one fails at collection, so unit runs stay fast):

- ``kafka_broker`` (session) -> ``"127.0.0.1:PORT"``, the bootstrap servers string.
- ``local_kafka`` (session) -> the ``LocalKafka`` managing that broker.
- ``unique_topic`` -> a topic name no other test uses (not created yet).
- ``create_topic(name, partitions=1, configs=None) -> name``
- ``produce(topic, records, headers=None) -> list[RecordMetadata]``; a record is ``bytes``
  (the value) or a ``(key, value)`` tuple of bytes/None.
- ``consume_all(topic, timeout_s=15.0, expected=None, isolation_level="read_committed",
  stop_at_end=True) -> list[ConsumerRecord]``.

Set ``TTPFLOW_TEST_BOOTSTRAP_SERVERS=host:port`` to run the integration tests against a broker
you already have (e.g. the docker-compose one) instead of starting one.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from jobs.local.kafka import LocalKafka, free_port, port_in_use

INTEGRATION_DIR = Path(__file__).parent / "integration"
# A fixed, memorable port when it is free (easy to find in `ss -ltn` while debugging a test run);
# any free port otherwise, e.g. while another session's tests hold 19092.
PREFERRED_TEST_PORT = 19092
BROKER_START_TIMEOUT_S = 120.0  # a cold JVM on 2 shared cores, next to a Flink run, can be slow
EXTERNAL_BOOTSTRAP_ENV = "TTPFLOW_TEST_BOOTSTRAP_SERVERS"

# Fixtures that start or use the broker; unit tests must not reach them.
KAFKA_FIXTURES = frozenset({"kafka_broker", "local_kafka", "create_topic", "produce", "consume_all"})

Record = bytes | tuple[bytes | None, bytes | None]


# -- markers ------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml registers the marker too; this keeps the suite strict-marker safe on its own.
    if not any(line.startswith("integration:") for line in config.getini("markers")):
        config.addinivalue_line("markers", "integration: needs the real Kafka broker and/or a real Flink run")
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy API: ~100
    # identical DeprecationWarnings per run that say nothing about this project.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kafka.protocol.schemas.load_json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misuse = []
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
        uses_kafka = KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses_kafka and item.get_closest_marker("integration") is None:
            misuse.append(f"{item.nodeid} (uses {', '.join(sorted(uses_kafka))})")
    if misuse:
        raise pytest.UsageError(
            "these tests use the Kafka broker but are not integration tests; move them under "
            "tests/integration/ or mark them @pytest.mark.integration:\n  " + "\n  ".join(misuse)
        )


# -- the broker ---------------------------------------------------------------------------------


def _test_ports() -> tuple[int, int]:
    if not port_in_use(PREFERRED_TEST_PORT) and not port_in_use(PREFERRED_TEST_PORT + 1):
        return PREFERRED_TEST_PORT, PREFERRED_TEST_PORT + 1
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    return port, controller_port


@pytest.fixture(scope="session")
def local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """The session's broker manager; skips when the tests run against an external broker."""
    if os.environ.get(EXTERNAL_BOOTSTRAP_ENV):
        pytest.skip(f"{EXTERNAL_BOOTSTRAP_ENV} is set: the tests use that broker, not a local one")
    port, controller_port = _test_ports()
    broker = LocalKafka(
        port=port,
        controller_port=controller_port,
        data_dir=tmp_path_factory.mktemp("kafka"),
        stop_with_parent=True,
    )
    broker.start(timeout_s=BROKER_START_TIMEOUT_S)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers ("127.0.0.1:PORT") of a real broker that runs for the whole session."""
    external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
    if external:
        return external
    broker: LocalKafka = request.getfixturevalue("local_kafka")
    return broker.bootstrap_servers


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test (and this run): legal characters only, short enough."""
    stem = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-.")[:80] or "topic"
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


# -- helpers (plain functions, and fixtures bound to the session broker) ------------------------


def create_kafka_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    client: Mapping[str, Any] | None = None,
) -> str:
    """Create ``topic`` and wait until every partition has a leader; returns the name. ``client``:
    extra kafka-python arguments (SASL, TLS) here and in the helpers below."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ttpflow-tests-admin", **(client or {}))
    try:
        spec: dict[str, Any] = {"num_partitions": partitions, "replication_factor": 1}
        if configs:
            spec["configs"] = dict(configs)
        admin.create_topics({topic: spec}, timeout_ms=int(timeout_s * 1000))
        admin.wait_for_topics([topic], timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()
    return topic


def produce_to_kafka(
    bootstrap: str,
    topic: str,
    records: Iterable[Record],
    headers: list[tuple[str, bytes]] | None = None,
    timeout_s: float = 30.0,
    client: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Send ``records`` (bytes values, or (key, value) pairs) in order and wait for every ack.

    Returns the RecordMetadata of each record (partition and offset), e.g. to check the source
    offsets that a dead-letter record must carry.
    """
    from kafka import KafkaProducer

    # acks=all + idempotence: each record lands exactly once and in order, so tests can compare.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, client_id="ttpflow-tests-producer",
        **(client or {}),
    )
    try:
        futures = []
        for record in records:
            key, value = record if isinstance(record, tuple) else (None, record)
            futures.append(producer.send(topic, key=key, value=value, headers=headers))
        producer.flush(timeout=timeout_s)
        return [future.get(timeout=timeout_s) for future in futures]
    finally:
        producer.close(timeout=timeout_s)


def consume_from_kafka(
    bootstrap: str,
    topic: str,
    timeout_s: float = 15.0,
    expected: int | None = None,
    isolation_level: str = "read_committed",
    stop_at_end: bool = True,
    client: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Read ``topic`` from the beginning; returns ConsumerRecords ordered by (partition, offset).

    Stops at the first of:
    - ``expected`` records read (when given);
    - with ``expected=None`` and ``stop_at_end``: every partition read up to its end, which under
      ``read_committed`` is the last stable offset, i.e. every committed record present now;
    - ``timeout_s`` elapsed (a topic that does not exist by then gives ``[]``).
    Use ``stop_at_end=False`` to keep reading for the whole timeout (to show nothing more arrives).
    No consumer group is used, so nothing is committed and repeated reads see the same records.
    """
    from kafka import KafkaConsumer, TopicPartition

    deadline = time.monotonic() + timeout_s
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
        # Reading must never create the topic (with default settings) before the job under test does.
        allow_auto_create_topics=False,
        client_id="ttpflow-tests-consumer",
        **(client or {}),
    )
    records: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)  # the topic may be created a moment later, e.g. by a Flink sink
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        while True:
            batch = consumer.poll(timeout_ms=200)
            for tp_records in batch.values():
                records.extend(tp_records)
            if expected is not None and len(records) >= expected:
                break
            if expected is None and stop_at_end:
                remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1000)
                ends = consumer.end_offsets(assigned, timeout_ms=remaining_ms)
                if all(consumer.position(tp) >= ends[tp] for tp in assigned):
                    break
            if time.monotonic() >= deadline:
                break
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


@pytest.fixture
def create_topic(kafka_broker: str) -> Callable[..., str]:
    """``create_topic(name, partitions=1, configs=None) -> name`` on the session broker."""

    def create(topic: str, partitions: int = 1, configs: Mapping[str, str] | None = None) -> str:
        return create_kafka_topic(kafka_broker, topic, partitions=partitions, configs=configs)

    return create


@pytest.fixture
def produce(kafka_broker: str) -> Callable[..., list[Any]]:
    """``produce(topic, records, headers=None) -> list[RecordMetadata]`` on the session broker."""

    def send(topic: str, records: Iterable[Record], headers: list[tuple[str, bytes]] | None = None) -> list[Any]:
        return produce_to_kafka(kafka_broker, topic, records, headers=headers)

    return send


@pytest.fixture
def consume_all(kafka_broker: str) -> Callable[..., list[Any]]:
    """``consume_all(topic, timeout_s=15.0, expected=None, isolation_level="read_committed",
    stop_at_end=True) -> list[ConsumerRecord]`` on the session broker (see consume_from_kafka)."""

    def consume(
        topic: str,
        timeout_s: float = 15.0,
        expected: int | None = None,
        isolation_level: str = "read_committed",
        stop_at_end: bool = True,
    ) -> list[Any]:
        return consume_from_kafka(
            kafka_broker,
            topic,
            timeout_s=timeout_s,
            expected=expected,
            isolation_level=isolation_level,
            stop_at_end=stop_at_end,
        )

    return consume
