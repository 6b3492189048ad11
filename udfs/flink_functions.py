"""Thin PyFlink wrappers: each calls the plain logic in ``udfs/`` and does only Flink I/O.

Records between operators are plain dicts (pickled by PyFlink); streams that leave the job are JSON
strings. Keyed state values are versioned JSON strings (``udfs.correlate.state``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pyflink.common import Row
from pyflink.common.time import Time
from pyflink.common.typeinfo import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    FlatMapFunction,
    KeyedBroadcastProcessFunction,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

from jobs.config import JobConfig
from schemas.event import Origin
from udfs.correlate.operator import is_late, late_record
from udfs.correlate.state import decode_binding, decode_hits, decode_part, encode_binding, encode_hits, encode_part
from udfs.detect.detector import Detector, load_detector
from udfs.normalize.normalizer import Normalizer
from udfs.rules import load_ruleset, load_sequence_rules
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
        self.group = runtime_context.get_metrics_group()
        self.parsed = self.group.counter("events_parsed")
        # Lazily created per format and per dead-letter reason: ttpflow.normalize.<format>.normalized,
        # ttpflow.normalize.dead_letter.<reason>.records
        self.counters: dict[tuple[str, str, str], Any] = {}

    def _counter(self, scope: str, name: str, metric: str) -> Any:
        counter = self.counters.get((scope, name, metric))
        if counter is None:
            counter = self.counters[(scope, name, metric)] = self.group.add_group(scope, name).counter(metric)
        return counter

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        kind, name, partition, offset, payload = value[0], value[1], value[2], value[3], value[4]
        if kind == "kafka":
            origin = Origin(topic=name, partition=partition, offset=offset)
        else:
            origin = Origin(file=name, line=offset)
        outcome = self.by_topic.get(name, self.default).normalize(bytes(payload), origin)
        if outcome.event is not None:
            self.parsed.inc()
            self._counter("format", outcome.source_format or "unknown", "normalized").inc()
            yield outcome.event
        else:
            self._counter("dead_letter", outcome.dead_letter["reason"], "records").inc()  # type: ignore[index]
            if outcome.source_format:
                self._counter("format", outcome.source_format, "dead_lettered").inc()
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


# -- link and correlate (udfs.link, udfs.correlate) ------------------------------------------------

# Records for the chained-correlation operator (stage 2), from fan-out and from the first correlator.
CHAINED_TAG = OutputTag("correlate-chained", Types.PICKLED_BYTE_ARRAY())
# Binding history per subject, replicated to every link subtask: any subtask can link any hit.
BINDINGS_STATE = MapStateDescriptor("bindings", Types.STRING(), Types.STRING())
SWEEP_EVERY = 10_000  # binding points between full sweeps of expired subjects


def fact_subject(fact: dict[str, Any]) -> str:
    return fact["subject"]


def record_key(record: dict[str, Any]) -> str:
    return record["key"]


def _state_ttl(config: JobConfig) -> StateTtlConfig:
    # A safety net under the event-time timers (which clear state themselves): keys whose timers can
    # no longer fire usefully (a rule removed, a stream that stopped for good) are dropped after this
    # much processing time without a write.
    return (
        StateTtlConfig.new_builder(Time.milliseconds(config.state_ttl_ms))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .build()
    )


class _CounterDeltas:
    """Engine counters (plain ints) -> Flink counters, by difference since the last report."""

    def __init__(self, group: Any, counters: Any) -> None:
        self.counters = counters
        self.seen = counters.snapshot()
        self.flink = {name: group.counter(name) for name in self.seen}

    def report(self) -> None:
        now = self.counters.snapshot()
        for name, value in now.items():
            if value != self.seen[name]:
                self.flink[name].inc(value - self.seen[name])
        self.seen = now


class BindingFacts(FlatMapFunction):
    """Event -> binding facts (who is where, at event time). Most events have none."""

    def flat_map(self, value: dict[str, Any]):  # type: ignore[override]
        from udfs.link.facts import binding_facts

        yield from binding_facts(value)


class LearnBindings(KeyedProcessFunction):
    """Per subject (ip:, session:, principal:): facts in event-time order -> binding points worth
    broadcasting (changes, refreshes, ends). Keyed state (uid ``link-learn``): ``facts`` MapState
    (event ms -> versioned JSON list) until the watermark passes them, ``last`` the last point sent."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.link.learn import Learner

        self.learner = Learner(self.config.binding_max_age_ms)
        ttl = _state_ttl(self.config)
        facts = MapStateDescriptor("facts", Types.LONG(), Types.STRING())
        facts.enable_time_to_live(ttl)
        last = ValueStateDescriptor("last", Types.STRING())
        last.enable_time_to_live(ttl)
        self.facts = runtime_context.get_map_state(facts)
        self.last = runtime_context.get_state(last)
        self.points = runtime_context.get_metrics_group().counter("binding_points")

    def process_element(self, value: dict[str, Any], ctx: KeyedProcessFunction.Context):  # type: ignore[override]
        ts = value["ts"]
        pending = decode_hits(self.facts.get(ts))
        pending.append(value)
        self.facts.put(ts, encode_hits(pending))
        ctx.timer_service().register_event_time_timer(ts)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # type: ignore[override]
        due = sorted(t for t in self.facts.keys() if t <= timestamp)
        facts: list[dict[str, Any]] = []
        for ts in due:
            facts += decode_hits(self.facts.get(ts))
            self.facts.remove(ts)
        last = decode_binding(self.last.value())
        if facts:
            last, points = self.learner.learn(last, facts)
            for point in points:
                self.points.inc()
                yield point
        cleanup = self.learner.cleanup_at(last)
        if cleanup is not None and cleanup <= timestamp:
            self.last.clear()  # too old to matter: the table has expired it too
        elif last is not None:
            self.last.update(encode_binding(last))
            ctx.timer_service().register_event_time_timer(cleanup)


class LinkFunction(KeyedBroadcastProcessFunction):
    """Hits -> hits with ``link`` (host, user, how), decided at event time against the binding points.

    Keyed by :func:`udfs.link.resolve.link_key` (uid ``correlate-sequences``, inherited from the v1
    per-host correlator): ``buffer`` MapState holds hits until the watermark passes them (unchanged
    from v1), so a binding learned a little after a hit arrived still links it. The v1 ``partials``
    ValueState is read once per key and handed to the correlate operator as seeds, then cleared.
    Broadcast state ``bindings``: subject -> versioned JSON list of points, mirrored in a dict.
    """

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.link.inventory import load_inventory
        from udfs.link.resolve import Linker
        from udfs.link.table import BindingTable

        self.linker = Linker(load_inventory(self.config.assets_path))
        self.table = BindingTable(self.config.binding_max_age_ms)
        self.mirrored = False
        self.inserts = 0
        self.sequences = {r.id: r for r in load_sequence_rules(Path(self.config.rules_dir))}
        # v1 state layout, kept as it was (no TTL: adding one would make the v1 savepoint unreadable).
        self.buffer = runtime_context.get_map_state(MapStateDescriptor("buffer", Types.LONG(), Types.STRING()))
        self.legacy = runtime_context.get_state(ValueStateDescriptor("partials", Types.STRING()))
        group = runtime_context.get_metrics_group()
        self.late = group.counter("hits_late")
        self.linked_by_binding = group.counter("hits_linked_by_binding")
        self.migrated = group.counter("v1_partials_migrated")

    def _mirror(self, ctx: Any) -> None:
        if not self.mirrored:
            for subject, text in ctx.get_broadcast_state(BINDINGS_STATE).items():
                self.table.load(subject, decode_binding(text))
            self.mirrored = True

    def process_element(self, value: dict[str, Any], ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):  # type: ignore[override]
        ts = value["timestamp_ms"]
        watermark = ctx.timer_service().current_watermark()
        if is_late(ts, watermark, self.config.allowed_lateness_ms):
            self.late.inc()
            yield LATE_TAG, _json(late_record("hit", value, watermark, self.config.allowed_lateness_ms))
            return
        pending = decode_hits(self.buffer.get(ts))
        pending.append(value)
        self.buffer.put(ts, encode_hits(pending))
        ctx.timer_service().register_event_time_timer(ts)

    def process_broadcast_element(self, value: dict[str, Any], ctx: KeyedBroadcastProcessFunction.Context):  # type: ignore[override]
        self._mirror(ctx)
        state = ctx.get_broadcast_state(BINDINGS_STATE)
        subject = value["subject"]
        self.table.insert(subject, value["ts"], value["value"], value["via"])
        # Every hit up to the current watermark has been linked (its timer fired before this point
        # arrived), and later hits look up at or after it: what is older than that can go.
        cutoff = ctx.current_watermark() - self.config.allowed_lateness_ms
        points = self.table.prune(subject, cutoff)
        if points is None:
            state.remove(subject)
        else:
            state.put(subject, encode_binding(points))
        self.inserts += 1
        if self.inserts % SWEEP_EVERY == 0:
            for gone in self.table.sweep(cutoff):
                state.remove(gone)

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext):  # type: ignore[override]
        self._mirror(ctx)
        key = ctx.get_current_key()
        legacy = self.legacy.value()
        if legacy:
            for seed in self._seeds(key, legacy):
                self.migrated.inc()
                yield seed
            self.legacy.clear()
        due = sorted(t for t in self.buffer.keys() if t <= timestamp)
        for ts in due:
            hits = sorted(decode_hits(self.buffer.get(ts)), key=lambda h: h["hit_id"])
            self.buffer.remove(ts)
            for hit in hits:
                linked = self.linker.link(hit, self.table)
                if linked["link"]["via"]:
                    self.linked_by_binding.inc()
                yield linked

    def _seeds(self, key: str, legacy: str):
        from udfs.correlate.runtime import make_key
        from udfs.correlate.state import seeds_from_v1
        from udfs.link.canonical import canonical_host, canonical_user

        for rule_id, partial in seeds_from_v1(key, legacy):
            rule = self.sequences.get(rule_id)
            if rule is None:
                continue  # the rule is gone: its partial could never complete
            first = (partial["evidence"] or [{}])[0]
            if rule.group_by == "user":
                value = canonical_user(first.get("user"))
            else:
                value = canonical_host(first.get("host") or key)
            if value is None:
                continue
            field = rule.group_by if isinstance(rule.group_by, str) else "host"
            group = {field: value}
            yield {"key": make_key(rule_id, group), "seed": partial, "group": group, "ts": partial["last_ms"],
                   "hit_id": f"seed:{partial['pid']}"}


class FanOut(ProcessFunction):
    """Linked hit -> one record per (rule, group) it feeds; stage-2 records to ``CHAINED_TAG``."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.engine import Correlation

        self.correlation = Correlation(load_ruleset(self.config.rules_dir, self.config.sigma_paths))
        self.routed = runtime_context.get_metrics_group().counter("records_routed")
        self.deltas = _CounterDeltas(runtime_context.get_metrics_group(), self.correlation.counters)

    def process_element(self, value: dict[str, Any], ctx: ProcessFunction.Context):  # type: ignore[override]
        if "seed" in value:
            yield value
            return
        for record in self.correlation.route(value, 1):
            self.routed.inc()
            yield record
        if self.correlation.has_stage2():
            for record in self.correlation.route(value, 2):
                self.routed.inc()
                yield CHAINED_TAG, record
        self.deltas.report()


class Correlator(KeyedProcessFunction):
    """Per (rule, group) key: records buffered until the watermark passes them, then fed to the rule in
    event-time order; event-time timers for windows, absences and expiry.

    Keyed state (uid ``correlate``, and ``correlate-chained`` for stage 2):
      ``buffer``:   MapState[event ms -> versioned JSON list of records] awaiting the watermark
      ``partials``: MapState[partial id -> versioned JSON partial match] (``~group``: the group values)
    """

    def __init__(self, config: JobConfig, stage: int = 1) -> None:
        self.config = config
        self.stage = stage

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.engine import Correlation
        from udfs.correlate.operator import CorrelatorCore

        self.correlation = Correlation(load_ruleset(self.config.rules_dir, self.config.sigma_paths))
        self.core = CorrelatorCore(self.correlation)
        ttl = _state_ttl(self.config)
        buffer = MapStateDescriptor("buffer", Types.LONG(), Types.STRING())
        buffer.enable_time_to_live(ttl)
        partials = MapStateDescriptor("partials", Types.STRING(), Types.STRING())
        partials.enable_time_to_live(ttl)
        self.buffer = runtime_context.get_map_state(buffer)
        self.partials = runtime_context.get_map_state(partials)
        group = runtime_context.get_metrics_group()
        self.late = group.counter("records_late")
        self.alerts = group.counter("alerts")
        self.deltas = _CounterDeltas(group, self.correlation.counters)

    def process_element(self, value: dict[str, Any], ctx: KeyedProcessFunction.Context):  # type: ignore[override]
        if "seed" in value:
            parts, texts = self._load()
            self.correlation.seed(value["key"], parts, value["seed"], value["group"])
            self._store(parts, texts)
            deadline = self.correlation.deadline(value["key"], parts)
            if deadline is not None:
                ctx.timer_service().register_event_time_timer(deadline)
            return
        ts = value["ts"]
        watermark = ctx.timer_service().current_watermark()
        inner = value["hit_id"].startswith("correlation:")  # made by the first correlator, never late
        if not inner and is_late(ts, watermark, self.config.allowed_lateness_ms):
            self.late.inc()
            yield LATE_TAG, _json(late_record("record", value, watermark, self.config.allowed_lateness_ms))
            return
        pending = decode_hits(self.buffer.get(ts))
        pending.append(value)
        self.buffer.put(ts, encode_hits(pending))
        ctx.timer_service().register_event_time_timer(ts)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # type: ignore[override]
        key = ctx.get_current_key()
        due = {t: decode_hits(self.buffer.get(t)) for t in self.buffer.keys() if t <= timestamp}
        for t in due:
            self.buffer.remove(t)
        parts, texts = self._load()
        out, deadline = self.core.fire(key, timestamp, due, parts)
        self._store(parts, texts)
        if deadline is not None:
            ctx.timer_service().register_event_time_timer(deadline)
        self.deltas.report()
        for draft in out.alerts:
            self.alerts.inc()
            yield draft
        for record in out.chained:
            yield CHAINED_TAG, record

    def _load(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        texts = dict(self.partials.items())
        return {pid: decode_part(text) for pid, text in texts.items()}, texts

    def _store(self, parts: dict[str, dict[str, Any]], texts: dict[str, str]) -> None:
        """Write back only what changed: MapState entries are separate values in the state backend."""
        for pid in texts:
            if pid not in parts:
                self.partials.remove(pid)
        for pid, part in parts.items():
            text = encode_part(part)
            if texts.get(pid) != text:
                self.partials.put(pid, text)


class ScoreFunction(MapFunction):
    def map(self, value: dict[str, Any]) -> str:  # type: ignore[override]
        return _json(score_alert(value))


class ToJson(MapFunction):
    def map(self, value: Any) -> str:  # type: ignore[override]
        return _json(value)
