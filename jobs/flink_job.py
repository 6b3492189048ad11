"""Sources, sinks and the execution environment around :mod:`jobs.pipeline`.

Run directly by ``flink run -py jobs/flink_job.py --bootstrap-servers H:P`` on a cluster, and by
``ttpflow run`` in the embedded MiniCluster.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from pyflink.common import Configuration, Row
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.table import StreamTableEnvironment

from jobs import pipeline
from jobs.config import PROJECT_ROOT, PYTHON_EXECUTION_MODE, JobConfig, Topics

CONNECTOR_DIR = PROJECT_ROOT / "flink-conf" / "lib" / "connectors"


def connector_jars() -> list[str]:
    jars = sorted(CONNECTOR_DIR.glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no Kafka connector jar in {CONNECTOR_DIR}; run: "
            "cd flink-conf && mvn -q -B -P connectors dependency:copy-dependencies "
            "-DoutputDirectory=lib/connectors"
        )
    return [jar.as_uri() for jar in jars]


def environment(config: JobConfig, *, kafka: bool, checkpointing: bool) -> StreamExecutionEnvironment:
    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("python.execution-mode", PYTHON_EXECUTION_MODE)
    # Measured (bench/README): default bundles ran a small stateful job ~10x slower.
    conf.set_string("python.fn-execution.bundle.size", "5000")
    conf.set_string("python.fn-execution.bundle.time", "200")
    conf.set_string("python.state.cache-size", "10000")
    conf.set_string("python.map-state.read-cache-size", "10000")
    conf.set_string("python.map-state.write-cache-size", "10000")
    conf.set_string("table.exec.uid.generation", "ALWAYS")
    conf.set_string("restart-strategy.type", "none")
    if kafka:
        conf.set_string("pipeline.jars", ";".join(connector_jars()))
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(config.parallelism)
    if checkpointing:
        env.enable_checkpointing(config.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    return env


def kafka_source(env: StreamExecutionEnvironment, config: JobConfig):
    """Raw Kafka records with topic/partition/offset, bytes untouched (SQL connector, raw format)."""
    t_env = StreamTableEnvironment.create(env)
    topics = ";".join(config.topics.raw)
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE raw_records (
          `payload` BYTES,
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL
        ) WITH (
          'connector' = 'kafka',
          'topic' = '{topics}',
          'properties.bootstrap.servers' = '{config.bootstrap_servers}',
          'properties.group.id' = '{config.consumer_group}',
          'properties.isolation.level' = 'read_committed',
          'scan.startup.mode' = 'group-offsets',
          'properties.auto.offset.reset' = 'earliest',
          'format' = 'raw'
        )
        """
    )
    table = t_env.sql_query(
        "SELECT 'kafka' AS kind, `topic` AS name, `partition`, `offset`, payload FROM raw_records"
    )
    return t_env.to_data_stream(table)


def kafka_sink(config: JobConfig, topic: str, name: str, guarantee: DeliveryGuarantee) -> KafkaSink:
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(config.bootstrap_servers or "")
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(guarantee)
    )
    if guarantee == DeliveryGuarantee.EXACTLY_ONCE:
        builder = builder.set_transactional_id_prefix(f"{config.transactional_id_prefix}-{name}").set_property(
            "transaction.timeout.ms", "900000"
        )
    return builder.build()


def build_kafka_job(config: JobConfig) -> StreamExecutionEnvironment:
    env = environment(config, kafka=True, checkpointing=True)
    outputs = pipeline.build(kafka_source(env, config), config)
    eo, alo = DeliveryGuarantee.EXACTLY_ONCE, DeliveryGuarantee.AT_LEAST_ONCE
    outputs.alerts.sink_to(kafka_sink(config, config.topics.alerts, "alerts", eo)).uid("sink-alerts").name(
        "alerts -> kafka"
    )
    outputs.signals.sink_to(kafka_sink(config, config.topics.signals, "signals", alo)).uid("sink-signals")
    outputs.dead_letters.sink_to(kafka_sink(config, config.topics.dead_letter, "dead-letter", eo)).uid(
        "sink-dead-letter"
    )
    outputs.late.sink_to(kafka_sink(config, config.topics.late, "late", eo)).uid("sink-late")
    return env


def file_records(paths: list[Path]) -> Iterator[Row]:
    from udfs.normalize.files import iter_records

    for path in paths:
        for payload, origin in iter_records(path):
            yield Row("file", str(path), -1, origin.line or 0, payload)


def run_files(config: JobConfig, paths: list[Path]) -> Iterator[tuple[str, str]]:
    """Run the graph on files in the embedded MiniCluster; yield (output name, JSON line)."""
    env = environment(config, kafka=False, checkpointing=False)
    raw = env.from_collection(list(file_records(paths)), type_info=pipeline.RAW_RECORD_TYPE)
    outputs = pipeline.build(raw, config)
    from pyflink.common.typeinfo import Types

    tagged_type = Types.TUPLE([Types.STRING(), Types.STRING()])
    streams = [
        stream.map(lambda s, n=name: (n, s), output_type=tagged_type)
        for name, stream in (
            ("alerts", outputs.alerts),
            ("signals", outputs.signals),
            ("dead_letter", outputs.dead_letters),
            ("late", outputs.late),
        )
    ]
    merged = streams[0].union(*streams[1:])
    with merged.execute_and_collect("ttpflow (files)") as results:
        for row in results:
            yield row[0], row[1]


def parse_args(argv: list[str]) -> JobConfig:
    parser = argparse.ArgumentParser(prog="flink_job.py", description="ttpflow on Kafka topics")
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(argv))


def add_kafka_job_args(parser: argparse.ArgumentParser) -> None:
    topics = Topics()
    parser.add_argument("--bootstrap-servers", required=False, help="Kafka bootstrap servers, HOST:PORT")
    parser.add_argument("--raw-topic", action="append", dest="raw_topics", metavar="TOPIC[=FORMAT]",
                        help=f"input topic, optionally with a fixed format (default {topics.raw[0]}; repeatable)")
    parser.add_argument("--alerts-topic", default=topics.alerts)
    parser.add_argument("--signals-topic", default=topics.signals)
    parser.add_argument("--dead-letter-topic", default=topics.dead_letter)
    parser.add_argument("--late-topic", default=topics.late)
    parser.add_argument("--group-id", default="ttpflow")
    parser.add_argument("--transactional-id-prefix", default="ttpflow")
    parser.add_argument("--rules-dir", default=None, help="rule packs (default: the bundled rules/)")
    parser.add_argument("--sigma", action="append", default=[], metavar="PATH", help="Sigma rules (repeatable)")
    parser.add_argument("--format", default=None, help="fix the input format (default: detect per record)")
    parser.add_argument("--out-of-orderness", default="60s", help="watermark bound (default 60s)")
    parser.add_argument("--idleness", default="30s", help="idle-source timeout (default 30s)")
    parser.add_argument("--allowed-lateness", default="0s", help="lateness accepted behind the watermark")
    parser.add_argument("--checkpoint-interval", default="10s")
    parser.add_argument("--parallelism", type=int, default=1)


def config_from_args(args: argparse.Namespace) -> JobConfig:
    from schemas.rules import duration_ms

    raw_topics: list[str] = []
    topic_formats: dict[str, str] = {}
    for spec in args.raw_topics or [Topics().raw[0]]:
        topic, _, fmt = spec.partition("=")
        raw_topics.append(topic)
        if fmt:
            topic_formats[topic] = fmt
    config = JobConfig(
        default_format=args.format,
        topic_formats=topic_formats,
        sigma_paths=tuple(args.sigma),
        out_of_orderness_ms=duration_ms(args.out_of_orderness),
        idleness_ms=duration_ms(args.idleness),
        allowed_lateness_ms=duration_ms(args.allowed_lateness),
        checkpoint_interval_ms=duration_ms(args.checkpoint_interval),
        topics=Topics(
            raw=tuple(raw_topics),
            alerts=args.alerts_topic,
            signals=args.signals_topic,
            dead_letter=args.dead_letter_topic,
            late=args.late_topic,
        ),
        bootstrap_servers=args.bootstrap_servers,
        consumer_group=args.group_id,
        transactional_id_prefix=args.transactional_id_prefix,
        parallelism=args.parallelism,
    )
    if args.rules_dir:
        config = replace(config, rules_dir=str(Path(args.rules_dir).resolve()))
    return config


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    if not config.bootstrap_servers:
        raise SystemExit("flink_job.py: --bootstrap-servers is required")
    build_kafka_job(config).execute("ttpflow")


if __name__ == "__main__":
    main()
