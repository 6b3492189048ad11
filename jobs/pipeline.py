"""The ttpflow job graph, source- and sink-agnostic: raw records in, named output streams out.

    raw ─ normalize ─┬─ events ─ watermarks ─┬─ detect ─┬─ signals
                     └─ dead letters         │          └─ key_by(link key) ─ link ─ fan-out ─┐
                                             └─ binding facts ─ key_by(subject) ─ learn ─┘ (broadcast)
      ┌──────────────────────────────────────────────────────────────────────────────────┘
      └─ key_by(rule, group) ─ correlate ─┬─ score ─ alerts
                     └─ correlate-chained ┘   (Sigma correlations over correlations)
    late: from link and both correlate operators

Link sits between detect and correlate: it works on hits (a small share of events) and the bindings
it needs come from every event through the learner, so detection stays stateless and fast, and a
network hit is linked with what the stream knew at its event time, whatever the arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream

from jobs.config import JobConfig
from udfs.flink_functions import (
    BINDINGS_STATE,
    CHAINED_TAG,
    DEAD_LETTER_TAG,
    LATE_TAG,
    BindingFacts,
    Correlator,
    DetectFunction,
    EventTimeAssigner,
    FanOut,
    LearnBindings,
    LinkFunction,
    NormalizeFunction,
    ScoreFunction,
    ToJson,
    fact_subject,
    record_key,
)
from udfs.link.resolve import link_key

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
    events: DataStream  # every normalized event, for file runs that want them (not sunk to Kafka)


def watermarks(config: JobConfig) -> WatermarkStrategy:
    return (
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(config.out_of_orderness_ms))
        .with_idleness(Duration.of_millis(config.idleness_ms))
        .with_timestamp_assigner(EventTimeAssigner())
    )


def build(raw: DataStream, config: JobConfig) -> Outputs:
    events = raw.process(NormalizeFunction(config)).uid("normalize").name("normalize")
    timed = events.assign_timestamps_and_watermarks(watermarks(config)).uid("event-time").name("event-time watermarks")
    hits = timed.flat_map(DetectFunction(config)).uid("detect").name("detect")
    bindings = (
        timed.flat_map(BindingFacts()).uid("binding-facts").name("binding facts")
        .key_by(fact_subject, key_type=Types.STRING())
        .process(LearnBindings(config)).uid("link-learn").name("learn bindings")
        .broadcast(BINDINGS_STATE)
    )
    # uid "correlate-sequences": this operator inherited the v1 per-host correlator's state (its hit
    # buffer as is; its partial matches are handed to "correlate" as seeds, see udfs.correlate.state).
    linked = (
        hits.key_by(link_key, key_type=Types.STRING()).connect(bindings)
        .process(LinkFunction(config)).uid("correlate-sequences").name("link")
    )
    routed = linked.process(FanOut(config)).uid("fan-out").name("fan out to (rule, group)")
    first = (
        routed.key_by(record_key, key_type=Types.STRING())
        .process(Correlator(config, stage=1)).uid("correlate").name("correlate")
    )
    chained = (
        routed.get_side_output(CHAINED_TAG).union(first.get_side_output(CHAINED_TAG))
        .key_by(record_key, key_type=Types.STRING())
        .process(Correlator(config, stage=2)).uid("correlate-chained").name("correlate chained")
    )
    return Outputs(
        events=events.map(ToJson(), output_type=Types.STRING()).name("events"),
        alerts=first.union(chained).map(ScoreFunction(), output_type=Types.STRING()).name("score"),
        signals=hits.map(ToJson(), output_type=Types.STRING()).name("signals"),
        dead_letters=events.get_side_output(DEAD_LETTER_TAG),
        late=linked.get_side_output(LATE_TAG).union(
            first.get_side_output(LATE_TAG), chained.get_side_output(LATE_TAG)
        ),
    )
