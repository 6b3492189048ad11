"""The job's own metrics, without Flink: what the per-event step and the alert steps count.

The PyFlink wrappers (:mod:`udfs.flink_functions`) hand these classes their runtime context's metric
group, which has the shape of :class:`Group`; tests hand them :class:`MemoryGroup`. Flink's
Prometheus reporter turns a key/value group (``add_group(key, value)``) into a label, so every
label set here is bounded: dead-letter reasons to a fixed set, rule ids to the first
``top_rules`` a subtask sees (the rest count as ``other``), histogram buckets to fixed bounds.

Cheap on the hot path: a record costs a few integer additions here; Flink's counters (each ``inc``
a call into PyFlink's metric machinery) are updated with the sums once per bundle (``flush``: the
wrapper registers it as a gauge, which PyFlink reads once at the end of every bundle in process
mode) and every ``flush_every`` records (thread mode, where nothing else calls it).
Series names and what Flink adds: docs/observability.md.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Protocol

# Dead-letter reasons the normalizer and the analyze step write (schemas.dead_letter); anything else
# is counted as "other" so that a new reason cannot grow the label set without a code change here.
DEAD_LETTER_REASONS = frozenset({
    "not_json", "invalid_utf8", "oversized", "too_deep", "huge_array", "duplicate_key", "schema",
    "missing_field", "parser_error", "bad_timestamp", "bad_xml", "unknown_format", "oversized_output",
})
OTHER = "other"
TOP_RULES = 50
# Upper bounds (ms) of the lag and latency histograms: 100 ms to a day; "+Inf" above.
LAG_BOUNDS_MS: tuple[int, ...] = (
    100, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000,
)


class Counter(Protocol):
    def inc(self, n: int = 1) -> None: ...


class Group(Protocol):
    """What the wrappers use of ``pyflink.metrics.MetricGroup``."""

    def counter(self, name: str) -> Any: ...

    def add_group(self, name: str, extra: str | None = None) -> Any: ...

    def gauge(self, name: str, obj: Callable[[], int]) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class MemoryGroup:
    """An in-memory :class:`Group`: ``values()`` maps ``scope/.../name`` (a key/value group as
    ``key=value``) to its count; gauges are called by ``read_gauges()``, as PyFlink does per bundle."""

    def __init__(self, registry: dict[str, Any] | None = None, scope: str = "") -> None:
        self.registry: dict[str, Any] = {} if registry is None else registry
        self.scope = scope

    def _path(self, name: str) -> str:
        return f"{self.scope}/{name}" if self.scope else name

    def counter(self, name: str) -> MemoryCounter:
        return self.registry.setdefault(self._path(name), MemoryCounter())

    def add_group(self, name: str, extra: str | None = None) -> MemoryGroup:
        return MemoryGroup(self.registry, self._path(name if extra is None else f"{name}={extra}"))

    def gauge(self, name: str, obj: Callable[[], int]) -> None:
        self.registry[self._path(name)] = obj

    def read_gauges(self) -> dict[str, int]:
        return {k: v() for k, v in list(self.registry.items()) if callable(v)}

    def values(self) -> dict[str, int]:
        return {k: v.count for k, v in self.registry.items() if isinstance(v, MemoryCounter)}


class Histogram:
    """Prometheus-style cumulative buckets kept as counters: ``<name>_bucket`` under the group
    ``le=<bound>`` (``+Inf`` last), ``<name>_sum`` and ``<name>_count``; PromQL's
    ``histogram_quantile`` reads them as a histogram. Observations are buffered until ``flush``."""

    def __init__(self, group: Group, name: str, bounds: tuple[int, ...] = LAG_BOUNDS_MS) -> None:
        self.bounds = bounds
        self.pending = [0] * (len(bounds) + 1)
        self.pending_sum = 0
        labels = [*(str(b) for b in bounds), "+Inf"]
        self.buckets = [group.add_group("le", le).counter(f"{name}_bucket") for le in labels]
        self.sum = group.counter(f"{name}_sum")
        self.count = group.counter(f"{name}_count")
        self.fresh = True  # PyFlink reports a counter once touched: every bucket shows from the first flush

    def observe(self, value: int) -> None:
        self.pending[bisect_left(self.bounds, value)] += 1
        self.pending_sum += value

    def flush(self) -> None:
        total = 0
        for i, n in enumerate(self.pending):  # cumulative: bucket le=b counts every value <= b
            total += n
            if total or self.fresh:
                self.buckets[i].inc(total)
        self.fresh = False
        if total:
            self.count.inc(total)
            self.sum.inc(self.pending_sum)
            self.pending = [0] * len(self.pending)
            self.pending_sum = 0


class LabelledCounts:
    """Counts per label value, at most ``limit`` distinct values (the rest as ``other``), buffered."""

    def __init__(self, group: Group, key: str, name: str, limit: int | None = None,
                 allowed: Iterable[str] | None = None) -> None:
        self.group, self.key, self.name, self.limit = group, key, name, limit
        self.allowed = frozenset(allowed) if allowed is not None else None
        self.named: set[str] = set()
        self.pending: dict[str, int] = {}
        self.flink: dict[str, Any] = {}

    def add(self, value: str, n: int = 1) -> None:
        if value not in self.named:
            if (self.allowed is not None and value not in self.allowed) or \
                    (self.limit is not None and len(self.named) >= self.limit):
                value = OTHER
            else:
                self.named.add(value)
        self.pending[value] = self.pending.get(value, 0) + n

    def flush(self) -> None:
        for value, n in self.pending.items():
            counter = self.flink.get(value)
            if counter is None:
                counter = self.flink[value] = self.group.add_group(self.key, value).counter(self.name)
            counter.inc(n)
        self.pending.clear()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AnalyzeMetrics:
    """The per-event step's counts, fed one :class:`udfs.analyze.Analysis` at a time.

    Flat counters (names kept from earlier releases): ``events_parsed``, ``technique_hits``,
    ``binding_facts``, ``suppressed``, ``held``; new: ``records_in``, ``dead_letters``. Labelled:
    ``dead_letter=<reason>`` / ``records``, ``format=<format>`` / ``normalized`` | ``dead_lettered``,
    ``rule=<rule id>`` / ``hits`` (top ``top_rules``). Histogram: ``event_time_lag_ms``
    (processing time at the step minus the record's event time).
    """

    FLAT = ("records_in", "events_parsed", "dead_letters", "technique_hits", "binding_facts", "suppressed", "held")

    def __init__(self, group: Group, *, top_rules: int = TOP_RULES, flush_every: int = 1000,
                 clock_ms: Callable[[], int] = _now_ms) -> None:
        self.flat = {name: group.counter(name) for name in self.FLAT}
        self.counts = dict.fromkeys(self.FLAT, 0)
        self.reasons = LabelledCounts(group, "dead_letter", "records", allowed=DEAD_LETTER_REASONS)
        self.normalized = LabelledCounts(group, "format", "normalized", limit=64)
        self.dead_by_format = LabelledCounts(group, "format", "dead_lettered", limit=64)
        self.rules = LabelledCounts(group, "rule", "hits", limit=top_rules)
        self.lag = Histogram(group, "event_time_lag_ms")
        self.clock_ms = clock_ms
        self.flush_every = flush_every
        self.unflushed = 0

    def outcome(self, out: Any) -> None:
        counts = self.counts
        counts["records_in"] += 1
        self.unflushed += 1
        if out.dead_letter is not None:
            counts["dead_letters"] += 1
            self.reasons.add(out.reason or OTHER)
            if out.source_format:
                self.dead_by_format.add(out.source_format)
        else:
            counts["events_parsed"] += 1
            self.normalized.add(out.source_format or "unknown")
            event_ms = getattr(out, "event_ms", None)
            if event_ms is not None:
                self.lag.observe(max(0, self.clock_ms() - event_ms))
            for row in out.rows:
                kind = row[0]
                if kind == "hit":
                    counts["technique_hits"] += 1
                    self.rules.add(row[4])
                elif kind == "held":  # waiting for the companion join (udfs.suppress.sql)
                    counts["held"] += 1
                elif kind == "fact":
                    counts["binding_facts"] += 1
            if out.suppressed:
                counts["suppressed"] += len(out.suppressed)
        if self.unflushed >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered counts to Flink."""
        for name, n in self.counts.items():
            if n:
                self.flat[name].inc(n)
                self.counts[name] = 0
        for labelled in (self.reasons, self.normalized, self.dead_by_format, self.rules):
            labelled.flush()
        self.lag.flush()
        self.unflushed = 0

    @classmethod
    def bound(cls, group: Group, python_execution_mode: str) -> AnalyzeMetrics:
        """The wrapper's metrics: in process mode also flushed at the end of every bundle."""
        metrics = cls(group)
        if python_execution_mode == "process":  # in thread mode the reporter's thread reads gauges
            metrics.bind_flush(group)
        return metrics

    def bind_flush(self, group: Group) -> None:
        """Flush at the end of every bundle: PyFlink (process mode) reads gauges exactly then."""
        group.gauge("metrics_flushes", self._flush_gauge)

    flushes = 0

    def _flush_gauge(self) -> int:
        self.flush()
        self.flushes += 1
        return self.flushes


class AlertMetrics:
    """An alert step's counts: ``alerts``, and the ``event_to_alert_latency_ms`` histogram (processing
    time at scoring minus the newest evidence's event time: the alert's ``last_seen_ms``). Alerts are
    few: flushed at once."""

    def __init__(self, group: Group, clock_ms: Callable[[], int] = _now_ms) -> None:
        self.alerts = group.counter("alerts")
        self.latency = Histogram(group, "event_to_alert_latency_ms")
        self.clock_ms = clock_ms

    def alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        self.alerts.inc()
        newest = alert.get("last_seen_ms")
        if newest is None:
            newest = max((e.get("timestamp_ms") or 0 for e in alert.get("evidence") or ()), default=None)
        if newest is not None:
            self.latency.observe(max(0, self.clock_ms() - int(newest)))
            self.latency.flush()
        return alert


class LateMetrics:
    """Late records made in Python (the Python-path correlator): ``late_records``, flushed at once."""

    def __init__(self, group: Group) -> None:
        self.late = group.counter("late_records")

    def count(self, record: Any) -> Any:
        if record is not None:
            self.late.inc()
        return record
