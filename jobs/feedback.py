"""The analyst-feedback path of the job graph (docs/scoring.md, "Analyst feedback"), Kafka only:

    feedback topic ─ parse (Python, stateless) ─┬─ verdicts ─ interval LEFT join (JVM SQL) ─┬─ updates → context
    alerts topic (read back) ──────────────────────────────────┘                             │
                                                └─ invalid_feedback ── dead letters ── unknown_alert_id ─┘

Every operator has a fixed uid (``feedback-*``); without ``--feedback-topic`` none of it exists.
"""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from jobs.errors import UserError
from jobs.uids import to_stream_with_uids
from schemas.config import JobConfig
from udfs.feedback import sql
from udfs.feedback.parse import ParseFeedback, as_text

JOINED_ROW = DataTypes.ROW([DataTypes.FIELD("kind", DataTypes.STRING()), DataTypes.FIELD("body", DataTypes.STRING())])


def verdict_updates(t_env: StreamTableEnvironment, config: JobConfig,
                    dead_letters: list[DataStream]) -> DataStream | None:
    """The verdicts joined to their alerts, as ContextUpdate JSON strings (kind ``verdict``); the
    feedback dead letters (invalid_feedback, unknown_alert_id) are appended to ``dead_letters``.
    None, and no operator, without ``--feedback-topic``."""
    if not config.feedback_topic:
        return None
    if not config.bootstrap_servers:
        raise UserError("--feedback-topic needs a Kafka job (--bootstrap-servers): verdicts are joined to the "
                        "alerts topic")
    from jobs.flink_job import SOURCE_OWN_PROPERTIES, _sql_properties, kafka_client_properties

    options = (f"\n          'properties.bootstrap.servers' = '{config.bootstrap_servers}',"
               f"\n          'properties.group.id' = '{config.consumer_group}-feedback',"
               + _sql_properties(kafka_client_properties(config, SOURCE_OWN_PROPERTIES)))
    t_env.execute_sql(sql.kafka_table_sql(sql.RECORDS_TABLE, config.feedback_topic, sql.RECORDS_COLUMNS, options))
    t_env.execute_sql(sql.kafka_table_sql(sql.ALERTS_TABLE, config.topics.alerts, sql.ALERTS_COLUMNS, options))
    records = to_stream_with_uids(t_env, t_env.sql_query(sql.records_sql()), "feedback-source")
    parse = ParseFeedback(config.topics.alerts, config.feedback_wait_ms, config.dead_letter_max_bytes)
    parsed = records.map(parse, output_type=Types.STRING()).uid("feedback-parse").name("parse verdicts")
    t_env.create_temporary_view(sql.PARSED_VIEW, t_env.from_data_stream(
        parsed, Schema.new_builder().column("f0", DataTypes.STRING()).column_by_expression("pt", "PROCTIME()").build()))
    joined = to_stream_with_uids(t_env, t_env.sql_query(sql.join_sql(config.feedback_wait_ms)), "feedback-join",
                                 JOINED_ROW)
    t_env.create_temporary_view(sql.JOINED_VIEW, t_env.from_data_stream(joined))
    dead_letters.append(_as_python_strings(t_env, sql.dead_letters_sql(), "feedback-dead-letters"))
    # SQL's strings: jobs.pipeline._union_updates unions them with the other sources whatever their type.
    return to_stream_with_uids(t_env, t_env.sql_query(sql.updates_sql()), "feedback-updates", DataTypes.STRING())


def _as_python_strings(t_env: StreamTableEnvironment, query: str, prefix: str) -> DataStream:
    """``query``'s one string column as a stream of the type Python operators emit: SQL's strings
    (ExternalTypeInfo) do not union with the job's other dead letters (String, jobs.pipeline.build)."""
    stream = to_stream_with_uids(t_env, t_env.sql_query(query), prefix, DataTypes.STRING())
    return stream.map(as_text, output_type=Types.STRING()).uid(f"{prefix}-out").name(prefix)
