"""Sources, sinks and the execution environment around :mod:`jobs.pipeline`.

Run directly by ``flink run -py jobs/flink_job.py --bootstrap-servers H:P`` on a cluster, and by
``ttpflow run`` in the embedded MiniCluster.
"""

from __future__ import annotations

import argparse
import os
import site
import sys
from pathlib import Path

from pyflink.common import Configuration
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.table import StreamTableEnvironment

from jobs import pipeline
from jobs.options import add_kafka_job_args, config_from_args
from schemas.config import PROJECT_ROOT, JobConfig

OUTPUT_NAMES = frozenset({"alerts", "signals", "dead_letter", "late", "events", "suppressed"})
CONNECTOR_DIR = PROJECT_ROOT / "flink-conf" / "lib" / "connectors"
UDF_JAR = PROJECT_ROOT / "udfs" / "jvm" / "target" / "ttpflow-udfs.jar"


def connector_jars() -> list[str]:
    jars = sorted(CONNECTOR_DIR.glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no Kafka connector jar in {CONNECTOR_DIR}; run: "
            "cd flink-conf && mvn -q -B -P connectors dependency:copy-dependencies "
            "-DoutputDirectory=lib/connectors"
        )
    return [jar.as_uri() for jar in jars]


def udf_jar() -> str:
    """ttpflow's JVM functions (udfs/jvm), built by scripts/bootstrap.sh."""
    if not UDF_JAR.is_file():
        raise FileNotFoundError(f"no {UDF_JAR}; run: mvn -q -B -f udfs/jvm/pom.xml package (scripts/bootstrap.sh does)")
    return UDF_JAR.as_uri()


def environment(config: JobConfig, *, kafka: bool, checkpointing: bool) -> StreamExecutionEnvironment:
    if config.metrics_port:  # before the first Java object: the gateway's JVM needs the reporter's jar
        from jobs.local.metrics import use_reporter_in_minicluster

        use_reporter_in_minicluster()
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
    # The watermark declared on the analyzed rows (jobs.pipeline) marks an idle subtask idle, so other
    # subtasks' watermarks can move on. With one subtask there is no other: idleness only splits the one
    # stream, since every query over the analyzed rows has its own assigner, each going idle in a quiet
    # spell and active again on the next record with the new watermark at once; a short branch (the
    # binding facts) then carries that watermark past hits still on a longer one (the linking stages),
    # and MATCH_RECOGNIZE drops them as late. So: no idleness at parallelism 1. At parallelism > 1 the
    # same overtaking can happen when every subtask is quiet at once (README, "Known limits").
    idle_ms = config.idleness_ms if config.parallelism > 1 else 0
    conf.set_string("table.exec.source.idle-timeout", f"{idle_ms} ms")
    # Local runs keep checkpoints on disk: JobManager memory caps state at 5 MB. A job submitted to
    # a cluster (flink run) leaves this to the cluster's configuration.
    if config.checkpoint_dir:
        conf.set_string("execution.checkpointing.storage", "filesystem")
        conf.set_string("execution.checkpointing.dir", Path(config.checkpoint_dir).resolve().as_uri())
    if config.restart_attempts > 0:
        conf.set_string("restart-strategy.type", "fixed-delay")
        conf.set_string("restart-strategy.fixed-delay.attempts", str(config.restart_attempts))
        conf.set_string("restart-strategy.fixed-delay.delay", "10 s")
    else:
        # Fail fast: with checkpointing on, Flink's default strategy would restart forever.
        conf.set_string("restart-strategy.type", "none")
    conf.set_string("pipeline.jars", ";".join([udf_jar(), *(connector_jars() if kafka else [])]))
    if config.metrics_port:  # ttpflow run --metrics-port: Flink's Prometheus reporter in the MiniCluster
        from jobs.local.metrics import reporter_settings

        for key, value in reporter_settings(config.metrics_port).items():
            conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(config.parallelism)
    if checkpointing:
        env.enable_checkpointing(config.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    return env


def kafka_source(env: StreamExecutionEnvironment, config: JobConfig, t_env: StreamTableEnvironment):
    """Raw Kafka records with topic/partition/offset, bytes untouched (SQL connector, raw format)."""
    topics = ";".join(config.topics.raw)
    if config.start_from_ms is not None:
        startup = f"'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{config.start_from_ms}'"
    else:
        startup = "'scan.startup.mode' = 'group-offsets'"
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
          {startup},{_sql_properties(kafka_client_properties(config, SOURCE_OWN_PROPERTIES))}
          'properties.auto.offset.reset' = 'earliest',
          'format' = 'raw'
        )
        """
    )
    table = t_env.sql_query(
        "SELECT 'kafka' AS kind, `topic` AS name, `partition`, `offset`, payload FROM raw_records"
    )
    return t_env.to_data_stream(table)


# Set by the job itself (its options, exactly-once reading): a client property cannot change them.
SOURCE_OWN_PROPERTIES = frozenset({"bootstrap.servers", "group.id", "isolation.level", "auto.offset.reset"})
SINK_OWN_PROPERTIES = frozenset({"bootstrap.servers"})


def kafka_client_properties(config: JobConfig, own: frozenset[str] = SINK_OWN_PROPERTIES) -> dict[str, str]:
    """--kafka-config and --kafka-property for the job's JVM clients, less the ``own`` keys the job
    sets; secrets resolved here, on the client, while the graph is built (never in the JobConfig the
    operators carry)."""
    from jobs.kafka_props import client_properties, jvm_properties

    resolved = client_properties(config.kafka_config_file, config.kafka_properties)
    return {k: v for k, v in jvm_properties(resolved).items() if k not in own}


def _sql_properties(properties: dict[str, str]) -> str:
    return "".join(f"\n          'properties.{_sql_string(k)}' = '{_sql_string(v)}'," for k, v in properties.items())


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
    for key, value in kafka_client_properties(config).items():
        builder = builder.set_property(key, value)
    if guarantee == DeliveryGuarantee.EXACTLY_ONCE:
        builder = builder.set_transactional_id_prefix(f"{config.transactional_id_prefix}-{name}").set_property(
            "transaction.timeout.ms", "900000"
        )
    return builder.build()


def build_kafka_job(config: JobConfig) -> StreamExecutionEnvironment:
    env = environment(config, kafka=True, checkpointing=True)
    t_env = StreamTableEnvironment.create(env)
    outputs = pipeline.build(kafka_source(env, config, t_env), config, t_env)
    eo, alo = DeliveryGuarantee.EXACTLY_ONCE, DeliveryGuarantee.AT_LEAST_ONCE
    outputs.alerts.sink_to(kafka_sink(config, config.topics.alerts, "alerts", eo)).uid("sink-alerts").name(
        "alerts -> kafka"
    )
    outputs.signals.sink_to(kafka_sink(config, config.topics.signals, "signals", alo)).uid("sink-signals")
    outputs.dead_letters.sink_to(kafka_sink(config, config.topics.dead_letter, "dead-letter", eo)).uid(
        "sink-dead-letter"
    )
    outputs.late.sink_to(kafka_sink(config, config.topics.late, "late", eo)).uid("sink-late")
    outputs.suppressed.sink_to(kafka_sink(config, config.topics.suppressed, "suppressed", eo)).uid("sink-suppressed")
    return env


def file_source(t_env: StreamTableEnvironment, staged: Path):
    """The staged records (:mod:`jobs.staging`) as ``RAW_RECORD_TYPE`` rows, read and decoded in the
    JVM: Flink's filesystem connector (a bounded source, line by line) and JSON format (base64 to
    BYTES, so payloads stay byte-exact). No Python operator of its own."""
    from jobs.staging import STAGED_COLUMNS

    columns = ", ".join(f"`{name}` {sql_type}" for name, sql_type in STAGED_COLUMNS)
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE staged_records ({columns}) WITH (
          'connector' = 'filesystem',
          'path' = '{_sql_string(str(staged.resolve()))}',
          'format' = 'json',
          'json.fail-on-missing-field' = 'true'
        )
        """
    )
    table = t_env.sql_query(
        "SELECT 'file' AS kind, `name`, CAST(-1 AS INT) AS `partition`, `offset`, payload FROM staged_records"
    )
    return t_env.to_data_stream(table)


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def file_sink(directory: Path, name: str):
    """One output as files: row format, one JSON per line, under ``directory`` (no date buckets).

    No checkpoints in a file run, so nothing rolls before the end: at the end of the bounded input
    every writer closes its part file and the sink commits it, before the job reports finished.
    """
    from pyflink.common.serialization import Encoder
    from pyflink.datastream.connectors.file_system import BucketAssigner, FileSink, OutputFileConfig, RollingPolicy

    return (
        FileSink.for_row_format(str(directory.resolve()), Encoder.simple_string_encoder())
        .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
        .with_output_file_config(OutputFileConfig.builder().with_part_prefix(name).with_part_suffix(".jsonl").build())
        .build()
    )


def run_files(config: JobConfig, staged: Path, out_dir: Path, wanted: frozenset[str] = OUTPUT_NAMES) -> dict[str, Path]:
    """Run the graph in the embedded MiniCluster on a staging file (:func:`jobs.staging.stage`),
    streaming, each ``wanted`` output to a FileSink directory under ``out_dir``; return those
    directories once the job has finished (the input consumed, every part file committed)."""
    from dataclasses import replace

    config = replace(config, emit_events="events" in wanted)
    env = environment(config, kafka=False, checkpointing=False)
    t_env = StreamTableEnvironment.create(env)
    outputs = pipeline.build(file_source(t_env, staged), config, t_env)
    by_name = {"alerts": outputs.alerts, "signals": outputs.signals, "dead_letter": outputs.dead_letters,
               "late": outputs.late, "events": outputs.events, "suppressed": outputs.suppressed}
    dirs: dict[str, Path] = {}
    for name, stream in by_name.items():
        if name in wanted:
            dirs[name] = out_dir / name
            stream.sink_to(file_sink(dirs[name], name)).uid(f"sink-{name}-files").name(f"{name} -> files")
    env.execute("ttpflow (files)")
    return dirs


def parse_args(argv: list[str]) -> JobConfig:
    parser = argparse.ArgumentParser(prog="flink_job.py", description="ttpflow on Kafka topics")
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> None:
    from udfs.errors import TtpflowError

    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except TtpflowError as err:  # one line on the client, not a trace
        raise SystemExit(f"flink_job.py: {err}") from None
    if not config.bootstrap_servers:
        raise SystemExit("flink_job.py: --bootstrap-servers is required")
    build_kafka_job(config).execute("ttpflow")


if __name__ == "__main__":
    main()
