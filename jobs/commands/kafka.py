"""``ttpflow kafka start | stop | status | topics``: a local single-node Kafka broker (KRaft) on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs.errors import UserError
from jobs.local.kafka import (
    DEFAULT_DATA_DIR,
    DEFAULT_PORT,
    DEFAULT_START_TIMEOUT_S,
    DEFAULT_STOP_TIMEOUT_S,
    KafkaBrokerError,
    LocalKafka,
    port_in_use,
)
from schemas.config import Topics


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="run a local single-node Kafka broker (KRaft) for development and tests",
        description=(
            "Run the Apache Kafka broker from the jars in flink-conf/lib/kafka/ (fetched with Maven "
            "when missing) as a single KRaft node on 127.0.0.1. Data and logs live in --data-dir."
        ),
    )
    actions = parser.add_subparsers(dest="kafka_action", required=True, metavar="ACTION")

    start = actions.add_parser("start", help="start the broker (does nothing if it already runs)")
    _common_options(start)
    start.add_argument(
        "--controller-port",
        type=int,
        default=None,
        metavar="N",
        help="KRaft controller listener port (default: --port + 1)",
    )
    start.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long to wait for the broker to answer (default {DEFAULT_START_TIMEOUT_S:.0f})",
    )
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="stop the broker gracefully (killed after --timeout)")
    _common_options(stop)
    stop.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT_S,
        metavar="SECONDS",
        help=f"grace period before the broker is killed (default {DEFAULT_STOP_TIMEOUT_S:.0f})",
    )
    stop.set_defaults(func=_stop)

    status = actions.add_parser("status", help="say whether the broker runs and answers")
    _common_options(status)
    status.set_defaults(func=_status)

    topics = actions.add_parser(
        "topics",
        help="create the job's topics (output topics with message.timestamp.type=LogAppendTime)",
        description=(
            "Create the raw and output topics the job uses, or bring existing output topics in line. "
            "Output topics (alerts, signals, dead letter, late, suppressed) get message.timestamp.type=LogAppendTime: "
            "the job writes each record with its event time as the Kafka timestamp, and retention must "
            "count from the write instead. Raw topics keep producer time (--start-from-timestamp seeks by it)."
        ),
    )
    topics.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                        help=f"the local broker's port (default {DEFAULT_PORT}); ignored with --bootstrap-servers")
    topics.add_argument("--bootstrap-servers", default=None, metavar="HOST:PORT", help="any broker")
    topics.add_argument("--partitions", type=int, default=1, metavar="N",
                        help="partitions of the topics created (default 1; existing topics are left as they are)")
    from jobs.options import add_kafka_client_args, add_topic_args

    add_topic_args(topics, "input topic (=FORMAT is ignored here)")
    add_kafka_client_args(topics)  # a secured broker: as the job's clients (the kafka-python subset)
    topics.set_defaults(func=_topics)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="N", help=f"broker port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="D",
        help=f"folder for the broker's data, logs and pid file (default {_display(DEFAULT_DATA_DIR)})",
    )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _broker(args: argparse.Namespace) -> LocalKafka:
    try:
        return LocalKafka(
            port=args.port,
            controller_port=getattr(args, "controller_port", None),
            data_dir=args.data_dir,
            progress=print,
        )
    except KafkaBrokerError as err:
        raise UserError(str(err)) from err


def _start(args: argparse.Namespace) -> int:
    broker = _broker(args)
    try:
        status = broker.start(timeout_s=args.timeout)
    except KafkaBrokerError as err:
        raise UserError(str(err)) from err
    verb = "already running" if status.already_running else "started"
    print(f"Kafka broker {verb} (pid {status.pid}) on {status.bootstrap_servers}")
    print(f"  data: {_display(status.data_dir)}  log: {_display(status.log_file)}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    broker = _broker(args)
    try:
        pid = broker.stop(timeout_s=args.timeout)
    except KafkaBrokerError as err:
        raise UserError(str(err)) from err
    if pid is None:
        print(f"Kafka broker not running (data: {_display(broker.data_dir)})")
    else:
        print(f"Kafka broker stopped (pid {pid})")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from jobs.local.topics import TIMESTAMP_TYPE, TopicError, ensure_topics, job_topics

    if args.partitions < 1:
        raise UserError(f"--partitions must be at least 1, got {args.partitions}")
    bootstrap = args.bootstrap_servers or f"127.0.0.1:{args.port}"
    raw = tuple(t.split("=", 1)[0] for t in (args.raw_topics or Topics().raw))
    topics = Topics(raw=raw, alerts=args.alerts_topic, signals=args.signals_topic,
                    dead_letter=args.dead_letter_topic, late=args.late_topic,
                    suppressed=args.suppressed_topic)
    specs = job_topics(topics, args.partitions)
    from jobs.kafka_props import client_properties, kafka_python_args
    from jobs.options import kafka_client_settings

    client = kafka_python_args(client_properties(*kafka_client_settings(args)))
    try:
        done = ensure_topics(bootstrap, specs, client=client)
    except TopicError as err:
        raise UserError(str(err)) from None
    for spec in specs:
        stamp = spec.configs.get(TIMESTAMP_TYPE, "CreateTime")
        print(f"{spec.name}: {done[spec.name]}, {TIMESTAMP_TYPE}={stamp}")
    return 0


def _status(args: argparse.Namespace) -> int:
    """Exit 0 when the broker runs and answers, 1 otherwise (usable in scripts)."""
    broker = _broker(args)
    status = broker.status()
    if status.running and status.ready:
        print(f"Kafka broker running (pid {status.pid}) on {status.bootstrap_servers}")
        print(f"  data: {_display(status.data_dir)}  log: {_display(status.log_file)}")
        return 0
    if status.running:
        print(
            f"Kafka broker process {status.pid} runs but does not answer on {status.bootstrap_servers}; "
            f"see {_display(status.log_file)}"
        )
        return 1
    line = f"Kafka broker not running (data: {_display(status.data_dir)})"
    try:
        if port_in_use(args.port):
            line += f"; port {args.port} on 127.0.0.1 is in use by another process"
    except KafkaBrokerError:
        pass
    print(line)
    return 1
