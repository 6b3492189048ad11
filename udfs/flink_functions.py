"""Thin PyFlink wrappers: each calls the plain logic in ``udfs/`` and does only Flink I/O.

Records between operators are plain dicts (pickled by PyFlink); streams that leave the job are JSON
strings. Keyed state values are versioned JSON strings (``udfs.correlate.state``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    FlatMapFunction,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from jobs.config import JobConfig
from schemas.event import Origin
from udfs.correlate.state import decode_hits, decode_partials, encode_hits, encode_partials
from udfs.detect.detector import Detector, load_detector
from udfs.normalize.normalizer import Normalizer
from udfs.rules import load_sequence_rules
from udfs.score import score_alert

DEAD_LETTER_TAG = OutputTag("dead-letter", Types.STRING())
LATE_TAG = OutputTag("late", Types.STRING())


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class NormalizeFunction(ProcessFunction):
    """Raw record (Row: kind, name, partition, offset, payload) -> event dict | dead letter (side)."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        self.default = Normalizer(self.config.default_format, limits=self.config.limits())
        self.by_topic = {t: Normalizer(f, limits=self.config.limits()) for t, f in self.config.topic_formats.items()}
        group = runtime_context.get_metrics_group()
        self.parsed = group.counter("events_parsed")
        self.dead_by_reason: dict[str, Any] = {}
        self.group = group

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        kind, name, partition, offset, payload = value[0], value[1], value[2], value[3], value[4]
        if kind == "kafka":
            origin = Origin(topic=name, partition=partition, offset=offset)
        else:
            origin = Origin(file=name, line=offset)
        outcome = self.by_topic.get(name, self.default).normalize(bytes(payload), origin)
        if outcome.event is not None:
            self.parsed.inc()
            yield outcome.event
        else:
            reason = outcome.dead_letter["reason"]  # type: ignore[index]
            counter = self.dead_by_reason.get(reason)
            if counter is None:
                counter = self.dead_by_reason[reason] = self.group.add_group("dead_letter", reason).counter(
                    "records"
                )
            counter.inc()
            yield DEAD_LETTER_TAG, _json(outcome.dead_letter)


class EventTimeAssigner(TimestampAssigner):
    def extract_timestamp(self, value: dict[str, Any], record_timestamp: int) -> int:
        return int(value["timestamp_ms"])


class DetectFunction(FlatMapFunction):
    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        self.detector: Detector = load_detector(self.config.rules_dir, self.config.sigma_paths)
        self.hits = runtime_context.get_metrics_group().counter("technique_hits")

    def flat_map(self, value: dict[str, Any]):  # type: ignore[override]
        for hit in self.detector.detect(value):
            self.hits.inc()
            yield hit


def entity_key(hit: dict[str, Any]) -> str:
    return hit.get("host") or "-"


class SequenceCorrelator(KeyedProcessFunction):
    """Per entity: buffer hits until the watermark passes them, then run sequences in event-time order.

    Keyed state (uid ``correlate-sequences``):
      ``buffer``:   MapState[event ms -> versioned JSON list of hits] awaiting the watermark
      ``partials``: ValueState[versioned JSON of partial matches per rule]
    """

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.sequence import SequenceEngine

        self.engine = SequenceEngine(load_sequence_rules(Path(self.config.rules_dir)))
        self.buffer = runtime_context.get_map_state(
            MapStateDescriptor("buffer", Types.LONG(), Types.STRING())
        )
        self.partials = runtime_context.get_state(ValueStateDescriptor("partials", Types.STRING()))
        group = runtime_context.get_metrics_group()
        self.late = group.counter("hits_late")
        self.alerts = group.counter("alerts")

    def process_element(self, value: dict[str, Any], ctx: KeyedProcessFunction.Context):  # type: ignore[override]
        ts = value["timestamp_ms"]
        watermark = ctx.timer_service().current_watermark()
        if ts < watermark - self.config.allowed_lateness_ms:
            self.late.inc()
            yield LATE_TAG, _json(
                {"reason": "behind_watermark", "watermark_ms": watermark,
                 "allowed_lateness_ms": self.config.allowed_lateness_ms, "hit": value}
            )
            return
        pending = decode_hits(self.buffer.get(ts))
        pending.append(value)
        self.buffer.put(ts, encode_hits(pending))
        ctx.timer_service().register_event_time_timer(ts)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # type: ignore[override]
        due = sorted(t for t in self.buffer.keys() if t <= timestamp)
        partials = decode_partials(self.partials.value())
        key = ctx.get_current_key()
        for ts in due:
            hits = sorted(decode_hits(self.buffer.get(ts)), key=lambda h: h["hit_id"])
            self.buffer.remove(ts)
            for hit in hits:
                for draft in self.engine.on_hit(partials, key, hit):
                    self.alerts.inc()
                    yield draft
        self.engine.expire(partials, timestamp)
        if partials:
            self.partials.update(encode_partials(partials))
            deadline = self.engine.next_deadline(partials)
            if deadline is not None:
                ctx.timer_service().register_event_time_timer(deadline)
        else:
            self.partials.clear()


class ScoreFunction(MapFunction):
    def map(self, value: dict[str, Any]) -> str:  # type: ignore[override]
        return _json(score_alert(value))


class ToJson(MapFunction):
    def map(self, value: Any) -> str:  # type: ignore[override]
        return _json(value)
