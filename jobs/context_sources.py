"""The context topics (``--assets-topic``, ``--identities-topic``, ``--change-windows-topic``) as one
stream of context updates (JSON of :class:`udfs.context.updates.ContextUpdate`), for the broadcast
that :mod:`jobs.pipeline` connects to the operators that score.

Each topic is read in the JVM by the ``upsert-kafka`` SQL connector: from the earliest offset (a
fresh job sees the whole compacted topic; a restored one goes on from its checkpointed offsets),
key and value as raw bytes, a null value (tombstone) as a delete. Its planner keeps the last entry
per key (ChangelogNormalize), which is what turns a tombstone into a delete of that entry. Every
operator has a fixed uid: ``context-<kind>-<n>`` for the SQL part, ``context-decode-<kind>`` for the
Python step that validates entries (bad ones leave as dead letters)."""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

from jobs.uids import _new_transformations
from schemas.config import JobConfig
from udfs.correlate.sql.common import millis_sql
from udfs.flink_functions import DEAD_LETTER_TAG, ContextRecords

# kind -> the JobConfig field naming its topic
TOPIC_FIELDS = {"asset": "assets_topic", "identity": "identities_topic", "change_window": "change_windows_topic"}


def context_topics(config: JobConfig) -> dict[str, str]:
    """kind -> topic, for the context topics the job is configured with."""
    return {kind: getattr(config, name) for kind, name in TOPIC_FIELDS.items() if getattr(config, name)}


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def topic_table_sql(kind: str, topic: str, config: JobConfig, properties: dict[str, str]) -> str:
    props = "".join(f"\n          'properties.{_sql_string(k)}' = '{_sql_string(v)}'," for k, v in properties.items())
    return f"""
        CREATE TEMPORARY TABLE context_{kind} (
          `k` STRING,
          `v` BYTES,
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          PRIMARY KEY (`k`) NOT ENFORCED
        ) WITH (
          'connector' = 'upsert-kafka',
          'topic' = '{_sql_string(topic)}',
          'properties.bootstrap.servers' = '{_sql_string(config.bootstrap_servers or "")}',{props}
          'key.format' = 'raw',
          'value.format' = 'raw',
          'value.fields-include' = 'EXCEPT_KEY'
        )
        """


def topic_updates(t_env: StreamTableEnvironment, config: JobConfig, kind: str, topic: str,
                  dead_letters: list[DataStream]) -> DataStream:
    from jobs.flink_job import SOURCE_OWN_PROPERTIES, kafka_client_properties

    t_env.execute_sql(topic_table_sql(kind, topic, config, kafka_client_properties(config, SOURCE_OWN_PROPERTIES)))
    table = t_env.sql_query(
        f"SELECT k, v, `topic`, `partition`, `offset`, {millis_sql('ts')} AS ts FROM context_{kind}")
    since = get_gateway().jvm.org.apache.flink.api.dag.Transformation.getNewNodeId()
    rows = t_env.to_changelog_stream(table)
    for n, transformation in enumerate(_new_transformations(rows, since)):
        transformation.setUid(f"context-{kind}-{n}")
    updates = rows.process(ContextRecords(kind, config), output_type=Types.STRING()).uid(
        f"context-decode-{kind}").name(f"context {kind} entries")
    dead_letters.append(updates.get_side_output(DEAD_LETTER_TAG))
    return updates


def context_topic_updates(t_env: StreamTableEnvironment, config: JobConfig,
                          dead_letters: list[DataStream]) -> list[DataStream]:
    return [topic_updates(t_env, config, kind, topic, dead_letters) for kind, topic in context_topics(config).items()]
