"""The ttpflow job graph, source- and sink-agnostic: raw records in, named output streams out.

    raw ─ normalize ─┬─ events ─ watermarks ─ detect ─┬─ signals
                     └─ dead letters                  └─ key_by(entity) ─ correlate ─┬─ score ─ alerts
                                                                                     └─ late
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream

from jobs.config import JobConfig
from udfs.flink_functions import (
    DEAD_LETTER_TAG,
    LATE_TAG,
    DetectFunction,
    EventTimeAssigner,
    NormalizeFunction,
    ScoreFunction,
    SequenceCorrelator,
    ToJson,
    entity_key,
)

# Raw records from any source: ("kafka", topic, partition, offset, payload) or ("file", path, -1, line, payload)
RAW_RECORD_TYPE = Types.ROW_NAMED(
    ["kind", "name", "partition", "offset", "payload"],
    [Types.STRING(), Types.STRING(), Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)


@dataclass(frozen=True)
class Outputs:
    """Every stream leaves as JSON strings; nothing leaves the main path without a named output."""

    alerts: DataStream
    signals: DataStream
    dead_letters: DataStream
    late: DataStream


def watermarks(config: JobConfig) -> WatermarkStrategy:
    return (
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(config.out_of_orderness_ms))
        .with_idleness(Duration.of_millis(config.idleness_ms))
        .with_timestamp_assigner(EventTimeAssigner())
    )


def build(raw: DataStream, config: JobConfig) -> Outputs:
    events = raw.process(NormalizeFunction(config)).uid("normalize").name("normalize")
    hits = (
        events.assign_timestamps_and_watermarks(watermarks(config))
        .uid("event-time")
        .name("event-time watermarks")
        .flat_map(DetectFunction(config))
        .uid("detect")
        .name("detect")
    )
    drafts = (
        hits.key_by(entity_key, key_type=Types.STRING())
        .process(SequenceCorrelator(config))
        .uid("correlate-sequences")
        .name("correlate sequences")
    )
    return Outputs(
        alerts=drafts.map(ScoreFunction(), output_type=Types.STRING()).name("score"),
        signals=hits.map(ToJson(), output_type=Types.STRING()).name("signals"),
        dead_letters=events.get_side_output(DEAD_LETTER_TAG),
        late=drafts.get_side_output(LATE_TAG),
    )
