"""An event-time harness: the link and correlate stages of the job, without Flink, on dicts.

It reproduces what the job's operators see: records in *arrival* order, a bounded-out-of-orderness
watermark (``max event time - bound - 1``, emitted every ``watermark_every`` arrivals, as Flink's
periodic watermarks are), hits behind it (beyond allowed lateness) sent to ``late``, binding facts
learned per subject and made visible once the watermark passes them, hits buffered per link key and
released in event-time order, and the correlate operators: the job's own
:class:`~udfs.correlate.operator.CorrelateOperator` on in-memory keyed state and timers
(:mod:`udfs.testing.memory`). At the end of input the watermark jumps to the end of time, as Flink's
does for a bounded source.

Used by the property tests (the same alerts in any arrival order within the bound) and the benchmark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from udfs.correlate.engine import Correlation
from udfs.correlate.operator import CorrelateOperator, is_late, late_record
from udfs.correlate.records import Draft, RoutedRecord
from udfs.correlate.state import decode_part
from udfs.keyed import WatermarkBuffer
from udfs.link.facts import binding_facts
from udfs.link.learn import Learner
from udfs.link.resolve import Linker
from udfs.link.table import BindingTable
from udfs.network.behavior import connection_of
from udfs.network.windows import NetworkWindows
from udfs.testing.memory import MemoryState, MemoryStore, MemoryTimers

END_OF_TIME = 2**62
SWEEP_EVERY = 10_000  # binding points between sweeps of expired subjects


class CorrelateStage:
    """One keyed correlate operator (``correlate`` or ``correlate-chained``): the job's own core on
    in-memory MapState and timers."""

    def __init__(self, core: CorrelateOperator) -> None:
        self.core = core
        self.buffers: MemoryState[int, str] = MemoryState()
        self.partials: MemoryState[str, str] = MemoryState()
        self.timers = MemoryTimers()
        self.late: list[dict[str, Any]] = []

    def add(self, record: RoutedRecord) -> None:
        key = record["key"]
        late = self.core.on_record(record, self.timers.of(key), self.buffers.of(key))
        if late is not None:
            self.late.append(late)

    def advance(self, watermark: int) -> tuple[list[Draft], list[RoutedRecord]]:
        alerts: list[Draft] = []
        chained: list[RoutedRecord] = []
        for timestamp, key in self.timers.due(watermark):
            out = self.core.on_timer(key, timestamp, self.timers.of(key), self.buffers.of(key), self.partials.of(key))
            self.buffers.compact(key)
            self.partials.compact(key)
            alerts += out.alerts
            chained += out.chained
        return alerts, chained

    def parts(self) -> list[dict[str, Any]]:
        """Every key's partial matches, decoded (the group entries too)."""
        return [{pid: decode_part(text) for pid, text in store.items()} for store in self.partials.values()]

    def state_bytes(self) -> int:
        return sum(len(orjson.dumps(p)) for p in self.parts() if p)


@dataclass
class Result:
    alerts: list[Draft]
    late: list[dict[str, Any]]


class EventTimeHarness:
    def __init__(
        self,
        correlation: Correlation,
        *,
        out_of_orderness_ms: int,
        allowed_lateness_ms: int = 0,
        linker: Linker | None = None,
        binding_max_age_ms: int = 24 * 3_600_000,
        watermark_every: int = 1,
        network: NetworkWindows | None = None,
    ) -> None:
        self.correlation = correlation
        self.network = network
        self.bound = out_of_orderness_ms
        self.lateness = allowed_lateness_ms
        self.linker = linker or Linker()
        self.table = BindingTable(binding_max_age_ms)
        self.learner = Learner(binding_max_age_ms)
        self.watermark_every = max(1, watermark_every)
        self.watermark = -(2**62)
        self.max_ts = -(2**62)
        self.facts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.last: dict[str, dict[str, Any] | None] = {}
        # Hits wait for the watermark before linking, as the job's temporal joins make them.
        self.pending_hits: MemoryStore[int, list[dict[str, Any]]] = MemoryStore()
        self.hit_timers = MemoryTimers()
        self.hit_buffer: WatermarkBuffer[dict[str, Any]] = WatermarkBuffer(list, lambda v: list(v or []),
                                                                           tie=lambda h: h["hit_id"])
        self.stage1 = CorrelateStage(CorrelateOperator(correlation, allowed_lateness_ms))
        self.stage2 = CorrelateStage(CorrelateOperator(correlation, allowed_lateness_ms))
        self.alerts: list[dict[str, Any]] = []
        self.late: list[dict[str, Any]] = []
        self.arrivals = 0
        self.inserts = 0

    def run(self, items: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]) -> Result:
        """``items``: (event, its hits) in arrival order. Ends the input (the watermark goes to the end)."""
        for event, hits in items:
            self.push(event, hits)
        self.advance(END_OF_TIME)
        return Result(self.alerts, self.late)

    def push(self, event: dict[str, Any], hits: list[dict[str, Any]]) -> None:
        conn = connection_of(event) if self.network is not None else None
        if conn is not None:  # the job's SQL watermark holds the allowed lateness in its delay
            self.network.add(conn, self.watermark - self.lateness)  # type: ignore[union-attr]
        for f in binding_facts(event):
            self.facts[f["subject"]].append(f)
        for hit in hits:
            if is_late(hit["timestamp_ms"], self.watermark, self.lateness):
                self.late.append(late_record("hit", hit, self.watermark, self.lateness))
            else:
                self.hit_buffer.add(self.pending_hits, self.hit_timers.of("hits"), hit["timestamp_ms"], hit)
        self.max_ts = max(self.max_ts, event["timestamp_ms"])
        self.arrivals += 1
        if self.arrivals % self.watermark_every == 0:
            self.advance(self.max_ts - self.bound - 1)

    def advance(self, watermark: int) -> None:
        if watermark <= self.watermark:
            return
        # Link prunes bindings against the watermark it has *processed* hits up to (Flink's
        # current_watermark() while the learner's points for the next one arrive): the old one.
        cutoff = self.watermark - self.lateness
        self.watermark = watermark
        # 1. the learner releases facts the watermark passed; every link replica sees the points
        for subject in sorted(self.facts):
            due = [f for f in self.facts[subject] if f["ts"] <= watermark]
            if not due:
                continue
            rest = [f for f in self.facts[subject] if f["ts"] > watermark]
            if rest:
                self.facts[subject] = rest
            else:
                del self.facts[subject]
            self.last[subject], points = self.learner.learn(self.last.get(subject), due)
            for p in points:
                self.table.insert(p["subject"], p["ts"], p["value"], p["via"])
                self.table.prune(p["subject"], cutoff)
                self.inserts += 1
                if self.inserts % SWEEP_EVERY == 0:  # as the link operator does
                    list(self.table.sweep(cutoff))
        # 2. windows the watermark closes add their hits (never late: they lead the watermark), then
        # the link stage releases hits in event-time order, linked at their own time
        if self.network is not None:
            for hit, _ in self.network.due(watermark - self.lateness):
                self.hit_buffer.add(self.pending_hits, self.hit_timers.of("hits"), hit["timestamp_ms"], hit)
        for hit in self.hit_buffer.release(self.pending_hits, watermark):
            linked = self.linker.link(hit, self.table)
            for rec in self.correlation.route(linked, 1):
                self.stage1.add(rec)
            for rec in self.correlation.route(linked, 2):
                self.stage2.add(rec)
        # 3. correlate, then the chained stage over what correlate handed on
        alerts, chained = self.stage1.advance(watermark)
        self.alerts += alerts
        for rec in chained:
            self.stage2.add(rec)
        alerts, _ = self.stage2.advance(watermark)
        self.alerts += alerts
        self.late += self.stage1.late + self.stage2.late
        self.stage1.late.clear()
        self.stage2.late.clear()

    def state_bytes(self) -> int:
        return self.stage1.state_bytes() + self.stage2.state_bytes()
