"""Thin PyFlink wrappers: each calls the plain logic in ``udfs/`` and does only Flink I/O.

The per-event step (analyze) emits typed rows for the SQL operators; matches come back as rows and
leave as JSON strings. The Python-path correlator's records are plain dicts (pickled by PyFlink) and
its keyed state values versioned JSON strings (``udfs.correlate.state``).
"""

from __future__ import annotations

from typing import Any

import orjson
from pyflink.common import Row
from pyflink.common.time import Time
from pyflink.common.typeinfo import Types
from pyflink.datastream import (
    BroadcastProcessFunction,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    ProcessFunction,
    RuntimeContext,
)
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig

from schemas.config import JobConfig
from udfs.correlate.rules import load_ruleset

DEAD_LETTER_TAG = OutputTag("dead-letter", Types.STRING())
EVENTS_TAG = OutputTag("events", Types.STRING())
ALERTS_TAG = OutputTag("alerts", Types.STRING())
LATE_TAG = OutputTag("late", Types.STRING())
SUPPRESSED_TAG = OutputTag("suppressed", Types.STRING())  # hits a suppression rule took (udfs.suppress)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class AnalyzeFunction(ProcessFunction):
    """Raw record (Row: kind, name, partition, offset, payload) -> analyzed rows (hits, binding
    facts); dead letters and, when asked for, normalized events to side outputs. The job's only
    Python step per event (see :mod:`udfs.analyze`)."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.analyze import Analyzer
        from udfs.metrics import AnalyzeMetrics

        _log_context(runtime_context)
        self.analyzer = Analyzer(self.config)
        self.metrics = AnalyzeMetrics.bound(runtime_context.get_metrics_group(), self.config.python_execution_mode)

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        out = self.analyzer.analyze(value[0], value[1], value[2], value[3], bytes(value[4]))
        self.metrics.outcome(out)
        if out.dead_letter is not None:
            yield DEAD_LETTER_TAG, out.dead_letter
            return
        if out.event is not None:
            yield EVENTS_TAG, out.event
        for record in out.suppressed:
            yield SUPPRESSED_TAG, record
        for row in out.rows:
            yield Row(*row)


def _log_context(runtime_context: RuntimeContext) -> None:
    """The JSON log lines of this worker thread name the task (the operator chain) and the subtask.
    (PyFlink's runtime context carries no job id: the client logs it where it knows it.)"""
    from udfs.jsonlog import bind

    bind(operator=runtime_context.get_task_name(), subtask=runtime_context.get_index_of_this_subtask(),
         attempt=runtime_context.get_attempt_number())


class NetworkHits(ProcessFunction):
    """A network window's row (rule, group, end, count, bytes, times) -> its hit row, when the rule's
    decision holds (:meth:`udfs.network.behavior.NetworkBehavior.window_hit`); few: one per window."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.analyze import HitRows
        from udfs.correlate.plan import CorrelationPlan
        from udfs.link.inventory import load_inventory
        from udfs.network.behavior import NetworkBehavior
        from udfs.network.rules import load_network_rules
        from udfs.score import Scorer

        plan = CorrelationPlan(load_ruleset(self.config.rules_dir, self.config.sigma_paths))
        inventory = load_inventory(self.config.assets_path)
        self.rows = HitRows(plan, inventory, Scorer.from_config(self.config, inventory),
                            redact_signals=not self.config.keep_raw_in_signals)
        self.behavior = NetworkBehavior(load_network_rules(self.config.rules_dir))
        self.hits = runtime_context.get_metrics_group().counter("network_hits")

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        found = self.behavior.window_hit(value[0], value[1], value[2], value[3], value[4], value[5])
        if found is not None:
            self.hits.inc()
            yield Row(*self.rows.row(*found))


def _match_drafts(config: JobConfig):  # -> (CorrelationPlan, MatchDrafts, Scorer)
    """The rule plan, what turns its JVM matches into the reference's drafts, and the alert scorer."""
    from udfs.correlate.plan import CorrelationPlan
    from udfs.correlate.sql.drafts import MatchDrafts
    from udfs.link.inventory import load_inventory
    from udfs.score import Scorer

    plan = CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths))
    inventory = load_inventory(config.assets_path)
    return plan, MatchDrafts(plan.specs(), inventory), Scorer.from_config(config, inventory)


class MatchAlerts(MapFunction):
    """A JVM match row (rule, group, links) -> the scored alert, as JSON (alerts only: few)."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.metrics import AlertMetrics

        _, self.drafts, self.scorer = _match_drafts(self.config)
        self.metrics = AlertMetrics(runtime_context.get_metrics_group())

    def map(self, value: Row) -> str:  # type: ignore[override]
        return _json(self.metrics.alert(self.scorer.alert(self.drafts.draft(value))))


class ChainedMatches(ProcessFunction):
    """An inner correlation's match row -> its rows for the rules over it (typed, back to SQL), and
    its alert (side output) unless every rule over it says ``generate: false``."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.sql.chains import ChainRows
        from udfs.metrics import AlertMetrics

        plan, self.drafts, self.scorer = _match_drafts(self.config)
        self.chains = ChainRows(plan)
        self.silent = plan.silent
        self.metrics = AlertMetrics(runtime_context.get_metrics_group())

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        draft = self.drafts.draft(value)
        if draft["rule_id"] not in self.silent:
            yield ALERTS_TAG, _json(self.metrics.alert(self.scorer.alert(draft)))
        for row in self.chains.rows(draft):
            yield Row(*row)


# -- the Python path: rules with no faithful SQL form yet (udfs.correlate.plan) ----------------------

# Records for the chained-correlation operator (stage 2), from the route and from the first correlator.
CHAINED_TAG = OutputTag("correlate-chained", Types.PICKLED_BYTE_ARRAY())


def record_key(record: dict[str, Any]) -> str:
    return record["key"]


def _descriptor(name: str, key_type: Any, config: JobConfig) -> MapStateDescriptor:
    """MapState[key -> versioned JSON text] with the state TTL: a safety net under the event-time
    timers (which clear state themselves) for keys whose timers can no longer fire usefully (a rule
    removed, a stream that stopped for good): dropped after this much processing time without a write."""
    descriptor = MapStateDescriptor(name, key_type, Types.STRING())
    descriptor.enable_time_to_live(_state_ttl(config))
    return descriptor


def _state_ttl(config: JobConfig) -> StateTtlConfig:
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


class PythonPathRoute(ProcessFunction):
    """Linked hit row -> one record per (rule, group) of the Python-path rules it feeds; stage-2
    records to ``CHAINED_TAG``. Fed only hits tagged for those rules."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.engine import Correlation
        from udfs.link.inventory import load_inventory

        self.correlation = Correlation(python_ruleset(self.config))
        self.inventory = load_inventory(self.config.assets_path)
        self.routed = runtime_context.get_metrics_group().counter("records_routed")
        self.deltas = _CounterDeltas(runtime_context.get_metrics_group(), self.correlation.counters)

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        from udfs.correlate.sql.python_path import linked_hit

        hit = linked_hit(value, self.inventory)
        for record in self.correlation.route(hit, 1):
            self.routed.inc()
            yield record
        if self.correlation.has_stage2():
            for record in self.correlation.route(hit, 2):
                self.routed.inc()
                yield CHAINED_TAG, record
        self.deltas.report()


def _late_metrics(group: Any):  # -> udfs.metrics.LateMetrics (imported here: the correlator's core is one)
    from udfs.metrics import LateMetrics

    return LateMetrics(group)


def python_ruleset(config: JobConfig):  # -> RuleSet
    from udfs.correlate.plan import CorrelationPlan

    return CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths)).python


class Correlator(KeyedProcessFunction):
    """Per (rule, group) key: :class:`udfs.correlate.operator.CorrelateOperator` on Flink's MapState
    (``buffer``, ``partials``) and timers (uid ``correlate``; ``correlate-chained`` for stage 2)."""

    def __init__(self, config: JobConfig, stage: int = 1) -> None:
        self.config = config
        self.stage = stage

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.correlate.engine import Correlation
        from udfs.correlate.operator import CorrelateOperator

        self.core = CorrelateOperator(Correlation(python_ruleset(self.config)), self.config.allowed_lateness_ms)
        self.buffer = runtime_context.get_map_state(_descriptor("buffer", Types.LONG(), self.config))
        self.partials = runtime_context.get_map_state(_descriptor("partials", Types.STRING(), self.config))
        self.deltas = _CounterDeltas(runtime_context.get_metrics_group(), self.core.counters)
        self.late = _late_metrics(runtime_context.get_metrics_group())

    def process_element(self, value: dict[str, Any], ctx: KeyedProcessFunction.Context):  # type: ignore[override]
        late = self.late.count(self.core.on_record(value, ctx.timer_service(), self.buffer))
        if late is not None:
            yield LATE_TAG, _json(late)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # type: ignore[override]
        out = self.core.on_timer(ctx.get_current_key(), timestamp, ctx.timer_service(), self.buffer, self.partials)
        self.deltas.report()
        yield from out.alerts
        for record in out.chained:
            yield CHAINED_TAG, record


class ScoreFunction(MapFunction):
    """A Python-path draft -> the scored alert, as JSON (:meth:`udfs.score.Scorer.alert`)."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.metrics import AlertMetrics
        from udfs.score import Scorer

        self.scorer = Scorer.from_config(self.config)
        self.metrics = AlertMetrics(runtime_context.get_metrics_group())

    def map(self, value: dict[str, Any]) -> str:  # type: ignore[override]
        return _json(self.metrics.alert(self.scorer.alert(value)))




# -- context as broadcast state (udfs.context; docs/scoring.md "Context from Kafka topics") -----------

# The latest update per ``kind|key``, as its JSON: in every checkpoint and savepoint of each operator that scores.
CONTEXT_STATE = MapStateDescriptor("context", Types.STRING(), Types.STRING())


class ContextRecords(ProcessFunction):
    """A context topic's changelog row (key, value, topic, partition, offset, ts) -> a context update
    (JSON), or a dead letter (side output) when its entry does not validate."""

    def __init__(self, kind: str, config: JobConfig) -> None:
        self.kind, self.config = kind, config

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # type: ignore[override]
        from pyflink.common import RowKind

        from udfs.context.topics import decode_record

        kind = value.get_row_kind()
        if kind == RowKind.UPDATE_BEFORE:  # the next row (UPDATE_AFTER) carries the new entry
            return
        payload = None if kind == RowKind.DELETE or value[1] is None else bytes(value[1])
        update, dead = decode_record(self.kind, value[2], value[3], value[4], (value[0] or "").encode(), payload,
                                     value[5], self.config.dead_letter_max_bytes)
        if dead is not None:
            yield DEAD_LETTER_TAG, dead
        else:
            yield update


class WithContext(BroadcastProcessFunction):
    """``inner`` (a function of this module that scores or links) fed the context broadcast: it reads a
    :class:`udfs.context.live.LiveContext`, rebuilt from the broadcast state on the first element after
    a (re)start, updated by every broadcast element."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.context.live import live_of

        self.inner.open(runtime_context)
        self.live, self.restored = live_of(self.inner), False

    def _state(self, ctx: Any) -> Any:
        state = ctx.get_broadcast_state(CONTEXT_STATE)
        if not self.restored:  # what the savepoint held (nothing on a fresh start)
            self.live.restore(state.items())
            self.restored = True
        return state

    def process_element(self, value: Any, ctx: BroadcastProcessFunction.ReadOnlyContext):  # type: ignore[override]
        self._state(ctx)
        if isinstance(self.inner, MapFunction):
            yield self.inner.map(value)
        else:
            yield from self.inner.process_element(value, ctx)

    def process_broadcast_element(self, value: str, ctx: BroadcastProcessFunction.Context):  # type: ignore[override]
        self.live.receive(value, self._state(ctx))
