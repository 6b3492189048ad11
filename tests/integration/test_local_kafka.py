"""The local Kafka broker (jobs/local/kafka.py) and the test fixtures built on it, on the real broker."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from jobs.commands import kafka as kafka_command
from jobs.local.kafka import MVN_BROKER_COMMAND, KafkaBrokerError, LocalKafka, free_port, port_in_use
from udfs.errors import TtpflowError

pytestmark = pytest.mark.integration

# Bytes a text-minded pipeline tends to mangle: NUL, invalid UTF-8, CR/LF, a BOM, non-ASCII text,
# an empty value, and one value larger than a typical socket read.
PAYLOADS = [
    b'{"event_id": "e1", "process_name": "powershell.exe"}',
    b"\x00\x01\x02\xff\xfe not utf-8 \x80\x81",
    b"line one\r\nline two\n",
    b'\xef\xbb\xbf{"bom": true}',
    "événement ✓ 事件".encode(),
    b"",
    bytes(range(256)) * 512,
]


def test_round_trip_keeps_exact_bytes_and_order(
    create_topic: Callable[..., str],
    unique_topic: str,
    produce: Callable[..., list[Any]],
    consume_all: Callable[..., list[Any]],
) -> None:
    topic = create_topic(unique_topic)
    keyed = [(f"k{i}".encode(), value) for i, value in enumerate(PAYLOADS)]
    metadata = produce(topic, [*keyed, b"no key"], headers=[("source", b"test")])

    records = consume_all(topic)

    assert [r.value for r in records] == [*PAYLOADS, b"no key"]
    assert [r.key for r in records] == [k for k, _ in keyed] + [None]
    assert [r.offset for r in records] == [m.offset for m in metadata] == list(range(len(PAYLOADS) + 1))
    assert all(r.headers == [("source", b"test")] for r in records)


def test_read_committed_sees_committed_transactions_only(
    kafka_broker: str,
    create_topic: Callable[..., str],
    unique_topic: str,
    consume_all: Callable[..., list[Any]],
) -> None:
    topic = create_topic(unique_topic)
    producer = KafkaProducer(bootstrap_servers=kafka_broker, transactional_id=f"tx-{unique_topic}")
    try:
        producer.init_transactions()
        for value, commit in ((b"committed-1", True), (b"aborted", False), (b"committed-2", True)):
            producer.begin_transaction()
            producer.send(topic, value)
            producer.flush()
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()

        # A transaction still open: its record is in the log but not visible to read_committed,
        # and reading "to the end" must stop at the last stable offset instead of waiting for it.
        producer.begin_transaction()
        producer.send(topic, b"still-open")
        producer.flush()

        assert [r.value for r in consume_all(topic, timeout_s=20)] == [b"committed-1", b"committed-2"]
        uncommitted = consume_all(topic, isolation_level="read_uncommitted", expected=4, timeout_s=20)
        assert [r.value for r in uncommitted] == [b"committed-1", b"aborted", b"committed-2", b"still-open"]

        producer.abort_transaction()
    finally:
        producer.close()
    assert [r.value for r in consume_all(topic, timeout_s=20)] == [b"committed-1", b"committed-2"]


def test_consume_of_a_missing_topic_is_empty_and_creates_nothing(
    unique_topic: str,
    create_topic: Callable[..., str],
    produce: Callable[..., list[Any]],
    consume_all: Callable[..., list[Any]],
) -> None:
    assert consume_all(unique_topic, timeout_s=1.0) == []
    # Consuming did not auto-create the topic: creating it now with 3 partitions succeeds.
    create_topic(unique_topic, partitions=3)
    produce(unique_topic, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    records = consume_all(unique_topic, expected=3, timeout_s=20)
    assert sorted(r.value for r in records) == [b"1", b"2", b"3"]
    assert [(r.partition, r.offset) for r in records] == sorted((r.partition, r.offset) for r in records)


def test_start_is_idempotent(local_kafka: LocalKafka) -> None:
    again = LocalKafka(
        port=local_kafka.port, controller_port=local_kafka.controller_port, data_dir=local_kafka.data_dir
    )
    first = local_kafka.status()
    status = again.start()

    assert status.already_running
    assert status.pid == first.pid is not None
    assert status.bootstrap_servers == local_kafka.bootstrap_servers
    assert again.status().ready


def test_start_on_another_port_with_a_running_data_dir_is_refused(local_kafka: LocalKafka) -> None:
    other_port = LocalKafka(port=free_port(), data_dir=local_kafka.data_dir)
    with pytest.raises(KafkaBrokerError, match=rf"already runs on port {local_kafka.port}"):
        other_port.start()
    assert local_kafka.status().ready


def test_port_taken_by_another_broker_is_a_clear_error(local_kafka: LocalKafka, tmp_path: Path) -> None:
    intruder = LocalKafka(port=local_kafka.port, controller_port=free_port(), data_dir=tmp_path / "other")
    with pytest.raises(KafkaBrokerError, match=rf"port {local_kafka.port} on 127.0.0.1 .* already in use"):
        intruder.start()
    assert not intruder.pid_file.exists()
    assert not intruder.status().running


def test_port_taken_by_any_listener_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
        broker = LocalKafka(port=port, controller_port=free_port(), data_dir=tmp_path / "k")
        with pytest.raises(KafkaBrokerError, match=rf"port {port} on 127.0.0.1 \(broker listener\)"):
            broker.start()
        assert not broker.pid_file.exists()


def test_a_broker_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    # An impossible heap size: the JVM exits at once, after the storage was formatted.
    broker = LocalKafka(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "k", heap="lots")
    with pytest.raises(KafkaBrokerError, match=r"exited with code \d+ before it was ready") as excinfo:
        broker.start(timeout_s=60)
    assert "Invalid maximum heap size" in str(excinfo.value)  # the tail of logs/console.log
    assert str(broker.log_file) in str(excinfo.value)
    assert not broker.pid_file.exists()
    assert not port_in_use(broker.port)


def test_missing_jars_error_names_the_maven_command(tmp_path: Path) -> None:
    broker = LocalKafka(port=free_port(), data_dir=tmp_path / "k", lib_dir=tmp_path / "no-jars", fetch_jars=False)
    with pytest.raises(KafkaBrokerError) as excinfo:
        broker.start()
    assert MVN_BROKER_COMMAND in str(excinfo.value)
    assert "dependency:copy-dependencies" in MVN_BROKER_COMMAND


def run_kafka_cli(argv: list[str]) -> int:
    """``ttpflow ARGV`` with only the kafka command registered, handling errors as jobs.cli.main does.

    Only this command's module is loaded, so these tests do not depend on every other command
    importing cleanly (or on how long importing PyFlink takes).
    """
    parser = argparse.ArgumentParser(prog="ttpflow")
    kafka_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TtpflowError as err:
        print(f"ttpflow {args.command}: {err}", file=sys.stderr)
        return 2


def test_cli_status_start_and_stop_messages(local_kafka: LocalKafka, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--port", str(local_kafka.port), "--data-dir", str(local_kafka.data_dir)]

    assert run_kafka_cli(["kafka", "status", *where]) == 0
    assert f"running (pid {local_kafka.status().pid}) on {local_kafka.bootstrap_servers}" in capsys.readouterr().out

    assert run_kafka_cli(["kafka", "start", *where]) == 0
    assert "already running" in capsys.readouterr().out

    # A port held by the session broker, with a data dir that has no broker: exit 2, one clear line.
    assert run_kafka_cli(["kafka", "start", "--port", str(local_kafka.port), "--data-dir", "/nonexistent/x/y"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ttpflow kafka: ") and "already in use by another process" in err


def test_stop_is_graceful_and_restart_keeps_the_data(tmp_path: Path) -> None:
    # Its own short-lived broker: stopping the session broker would break the other tests.
    broker = LocalKafka(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "k", stop_with_parent=True)
    try:
        first = broker.start(timeout_s=120)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        producer.send("kept", b"survives a restart").get(timeout=30)  # auto-created topic
        producer.close()

        assert broker.stop() == first.pid
        assert not broker.pid_file.exists()
        assert not broker.status().running
        assert not port_in_use(broker.port)
        assert broker.stop() is None  # stopping a stopped broker is fine
        # Graceful: Kafka marks a clean shutdown in its log dir, so the restart skips log recovery.
        assert (broker.kafka_data_dir / ".kafka_cleanshutdown").exists()

        second = broker.start(timeout_s=120)
        assert second.pid != first.pid and not second.already_running
        consumer = KafkaConsumer(
            "kept", bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=20000
        )
        try:
            assert next(iter(consumer)).value == b"survives a restart"
        finally:
            consumer.close()
    finally:
        broker.stop()
    assert not broker.status().running
