"""The feedback path's SQL (docs/scoring.md, "Analyst feedback"): the job's own alerts topic read
back, and one join of the verdicts to it, in the JVM.

Why a processing-time interval LEFT join: a verdict must find its alert, or be dead-lettered as
``unknown_alert_id``, and the output must stay append-only (it feeds a broadcast and a Kafka sink).
A regular join would keep every alert (with idle-state retention) but can only say "unknown" by
retracting a null-padded row later. An interval join emits a verdict's null-padded row once, when
its wait is over, and nothing else. Its bounds are in processing time because verdicts and alerts
have no shared event time: an alert's time is its telemetry's (days old in a replay), a verdict's
is the analyst's clock, and the alerts topic may be quiet for hours, which would hold an event-time
join's watermark. So: an alert read back is remembered :data:`RETENTION_MS` (90 days; the bound
below the verdict), and a verdict waits up to ``wait_ms`` (above) for an alert that is not yet on
the topic (alerts are committed at checkpoints). Both bounds are the join's state cleanup. No
pyflink here.
"""

from __future__ import annotations

from udfs.correlate.sql.common import interval_sql, millis_sql

RETENTION_MS = 90 * 86_400_000
PARSED_VIEW = "feedback_parsed"  # the Python step's JSON lines (udfs.feedback.parse), column f0, with pt
ALERTS_TABLE = "feedback_alerts"  # the alerts topic, read back: value, pt
RECORDS_TABLE = "feedback_records"  # the feedback topic: payload and where it came from
JOINED_VIEW = "feedback_joined"  # kind ('verdict' | 'unknown'), body (an update's JSON | a dead letter)


def kafka_table_sql(name: str, topic: str, columns: str, options: str) -> str:
    """A raw-format Kafka table read from the start (a fresh job rebuilds verdicts and the alerts it
    knows from the topics; a restored one goes on from its checkpointed offsets), committed records only."""
    return f"""
        CREATE TEMPORARY TABLE {name} ({columns}) WITH (
          'connector' = 'kafka',
          'topic' = '{topic.replace("'", "''")}',{options}
          'properties.isolation.level' = 'read_committed',
          'scan.startup.mode' = 'earliest-offset',
          'format' = 'raw'
        )"""


RECORDS_COLUMNS = ("`payload` BYTES, `topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL, "
                   "`offset` BIGINT METADATA VIRTUAL, `record_time` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL")
ALERTS_COLUMNS = "`value` STRING, `pt` AS PROCTIME()"


def records_sql() -> str:
    """The feedback records as the Python step takes them: topic, partition, offset, record ms, payload."""
    return (f"SELECT `topic`, `partition`, `offset`, {millis_sql('`record_time`')} AS record_ms, `payload` "
            f"FROM {RECORDS_TABLE}")


def _field(name: str, returning: str = "STRING") -> str:
    if returning == "BIGINT":  # JSON_VALUE returns no BIGINT (STRING, BOOLEAN, INT, DOUBLE only)
        return f"CAST(JSON_VALUE(f0, '$.{name}') AS BIGINT)"
    return f"JSON_VALUE(f0, '$.{name}' RETURNING {returning})"


def join_sql(wait_ms: int) -> str:
    """Verdicts joined to their alert by id: a ContextUpdate of kind ``verdict`` (key the alert id;
    the value adds the alert's rule, entity type and entity), or the verdict's ``unknown`` letter."""
    update = (
        "JSON_OBJECT('kind' VALUE 'verdict', 'key' VALUE v.alert_id, 'value' VALUE JSON_OBJECT("
        "'alert_id' VALUE v.alert_id, 'verdict' VALUE v.verdict, 'analyst' VALUE v.analyst, 'at_ms' VALUE v.at_ms, "
        "'rule_id' VALUE a.rule_id, 'entity_type' VALUE a.entity_type, 'entity' VALUE a.entity), 'ts' VALUE v.ts)"
    )
    return f"""
        SELECT CASE WHEN a.alert_id IS NULL THEN 'unknown' ELSE 'verdict' END AS kind,
               CASE WHEN a.alert_id IS NULL THEN v.unknown_letter ELSE {update} END AS body
        FROM (
          SELECT {_field('alert_id')} AS alert_id, {_field('verdict')} AS verdict, {_field('analyst')} AS analyst,
                 {_field('at_ms', 'BIGINT')} AS at_ms, {_field('ts', 'BIGINT')} AS ts,
                 {_field('unknown_letter')} AS unknown_letter, pt
          FROM {PARSED_VIEW} WHERE {_field('ok', 'BOOLEAN')}
        ) v LEFT JOIN (
          SELECT JSON_VALUE(`value`, '$.id') AS alert_id, JSON_VALUE(`value`, '$.rule_id') AS rule_id,
                 JSON_VALUE(`value`, '$.entity_type') AS entity_type, JSON_VALUE(`value`, '$.entity') AS entity, pt
          FROM {ALERTS_TABLE}
        ) a ON v.alert_id = a.alert_id
           AND a.pt BETWEEN v.pt - {interval_sql(RETENTION_MS)} AND v.pt + {interval_sql(wait_ms)}"""


def invalid_sql() -> str:
    """The dead letters of records that are not verdicts (reason invalid_feedback)."""
    return f"SELECT {_field('letter')} AS letter FROM {PARSED_VIEW} WHERE NOT {_field('ok', 'BOOLEAN')}"


def updates_sql() -> str:
    return f"SELECT body FROM {JOINED_VIEW} WHERE kind = 'verdict'"


def dead_letters_sql() -> str:
    return f"{invalid_sql()} UNION ALL SELECT body AS letter FROM {JOINED_VIEW} WHERE kind = 'unknown'"
