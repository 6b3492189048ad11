"""An event-time harness: the link and correlate stages of the job, without Flink, on dicts.

It reproduces what the job's operators see: records in *arrival* order, a bounded-out-of-orderness
watermark (``max event time - bound - 1``, emitted every ``watermark_every`` arrivals, as Flink's
periodic watermarks are), hits behind it (beyond allowed lateness) sent to ``late``, binding facts
learned per subject and made visible once the watermark passes them, hits buffered per link key and
released in event-time order, and per-key event-time timers in the correlate operators (records
first, then deadlines, in timestamp order). At the end of input the watermark jumps to the end of
time, as Flink's does for a bounded source.

Used by the property tests (the same alerts in any arrival order within the bound) and the benchmark.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from udfs.correlate.engine import Correlation
from udfs.correlate.operator import CorrelatorCore, is_late, late_record
from udfs.correlate.runtime import Parts
from udfs.link.facts import binding_facts
from udfs.link.learn import Learner
from udfs.link.resolve import Linker
from udfs.link.table import BindingTable

END_OF_TIME = 2**62
SWEEP_EVERY = 10_000  # binding points between sweeps of expired subjects (udfs.flink_functions does the same)


@dataclass
class _Stage:
    """One keyed correlate operator: per-key buffers and state, and one event-time timer queue (as
    Flink's timer service: timers fire in timestamp order, a key's timer at most once per time)."""

    core: CorrelatorCore
    buffers: dict[str, dict[int, list[dict[str, Any]]]] = field(default_factory=lambda: defaultdict(dict))
    parts: dict[str, Parts] = field(default_factory=lambda: defaultdict(dict))
    queue: list[tuple[int, str]] = field(default_factory=list)
    registered: set[tuple[int, str]] = field(default_factory=set)

    def timer(self, key: str, t: int) -> None:
        if (t, key) not in self.registered:
            self.registered.add((t, key))
            heapq.heappush(self.queue, (t, key))

    def add(self, rec: dict[str, Any]) -> None:
        self.buffers[rec["key"]].setdefault(rec["ts"], []).append(rec)
        self.timer(rec["key"], rec["ts"])

    def advance(self, watermark: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        alerts: list[dict[str, Any]] = []
        chained: list[dict[str, Any]] = []
        while self.queue and self.queue[0][0] <= watermark:
            t, key = heapq.heappop(self.queue)
            self.registered.discard((t, key))
            out, deadline = self.core.fire(key, t, self.buffers[key], self.parts[key])
            if not self.buffers[key]:
                del self.buffers[key]
            if not self.parts[key]:
                del self.parts[key]
            alerts += out.alerts
            chained += out.chained
            if deadline is not None:
                self.timer(key, deadline)
        return alerts, chained

    def state_bytes(self) -> int:
        import orjson

        return sum(len(orjson.dumps(p)) for p in self.parts.values() if p)


@dataclass
class Result:
    alerts: list[dict[str, Any]]
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
    ) -> None:
        self.correlation = correlation
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
        self.hits: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.stage1 = _Stage(CorrelatorCore(correlation))
        self.stage2 = _Stage(CorrelatorCore(correlation))
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
        for f in binding_facts(event):
            self.facts[f["subject"]].append(f)
        for hit in hits:
            if is_late(hit["timestamp_ms"], self.watermark, self.lateness):
                self.late.append(late_record("hit", hit, self.watermark, self.lateness))
            else:
                self.hits[hit["timestamp_ms"]].append(hit)
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
        # 2. the link stage releases hits in event-time order, linked at their own time
        for ts in sorted(t for t in self.hits if t <= watermark):
            for hit in sorted(self.hits.pop(ts), key=lambda h: h["hit_id"]):
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

    def state_bytes(self) -> int:
        return self.stage1.state_bytes() + self.stage2.state_bytes()
