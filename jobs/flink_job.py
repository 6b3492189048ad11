"""Sources, sinks and the execution environment around :mod:`jobs.pipeline`.

Run directly by ``flink run -py jobs/flink_job.py --bootstrap-servers H:P`` on a cluster, and by
``ttpflow run`` in the embedded MiniCluster.
"""

from __future__ import annotations

import argparse
import os
import site
import sys
from collections.abc import Iterator
from pathlib import Path

from pyflink.common import Configuration, Row
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.table import StreamTableEnvironment

from jobs import pipeline
from jobs.config import PROJECT_ROOT, JobConfig
from jobs.options import add_kafka_job_args, config_from_args

OUTPUT_NAMES = frozenset({"alerts", "signals", "dead_letter", "late", "events"})
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
    conf.set_string("python.execution-mode", config.python_execution_mode)
    if config.python_execution_mode == "thread":
        # Thread mode runs Python inside the TaskManager JVM (pemja): it needs the venv on its path.
        conf.set_string("python.pythonpath", os.pathsep.join(site.getsitepackages()))
    # Measured (bench/README): default bundles ran a small stateful job ~10x slower.
    conf.set_string("python.fn-execution.bundle.size", "5000")
    conf.set_string("python.fn-execution.bundle.time", "200")
    conf.set_string("python.state.cache-size", "10000")
    conf.set_string("python.map-state.read-cache-size", "10000")
    conf.set_string("python.map-state.write-cache-size", "10000")
    conf.set_string("table.exec.uid.generation", "ALWAYS")
    if config.restart_attempts > 0:
        conf.set_string("restart-strategy.type", "fixed-delay")
        conf.set_string("restart-strategy.fixed-delay.attempts", str(config.restart_attempts))
        conf.set_string("restart-strategy.fixed-delay.delay", "10 s")
    else:
        # Fail fast: with checkpointing on, Flink's default strategy would restart forever.
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


def run_files(config: JobConfig, paths: list[Path], wanted: frozenset[str] = OUTPUT_NAMES) -> Iterator[tuple[str, str]]:
    """Run the graph on files in the embedded MiniCluster; yield (output name, JSON line).

    Only the ``wanted`` outputs are brought back to the client: collecting is the slow part of a
    file run (measured ~2.5k records/s), and signals outnumber everything else.
    """
    from pyflink.common.typeinfo import Types

    env = environment(config, kafka=False, checkpointing=False)
    raw = env.from_collection(list(file_records(paths)), type_info=pipeline.RAW_RECORD_TYPE)
    outputs = pipeline.build(raw, config)
    by_name = {"alerts": outputs.alerts, "signals": outputs.signals, "dead_letter": outputs.dead_letters,
               "late": outputs.late, "events": outputs.events}
    tagged_type = Types.TUPLE([Types.STRING(), Types.STRING()])
    streams = [
        stream.map(lambda s, n=name: (n, s), output_type=tagged_type)
        for name, stream in by_name.items()
        if name in wanted or name == "alerts"
    ]
    merged = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
    with merged.execute_and_collect("ttpflow (files)") as results:
        for row in results:
            yield row[0], row[1]


def parse_args(argv: list[str]) -> JobConfig:
    parser = argparse.ArgumentParser(prog="flink_job.py", description="ttpflow on Kafka topics")
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    if not config.bootstrap_servers:
        raise SystemExit("flink_job.py: --bootstrap-servers is required")
    build_kafka_job(config).execute("ttpflow")


if __name__ == "__main__":
    main()
