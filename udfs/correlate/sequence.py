"""Ordered sequences per group, over hits fed in event-time order.

A partial match waits at one step. It advances when a hit matches that step, joins on the ``by``
keys captured so far, and keeps to the windows (``within`` from the first hit, ``max_gap`` from the
previous step). A repeated step (``count: N``) needs N such hits. An ``absent`` step is decided by
time: a matching hit inside ``max_gap`` of the previous step kills the partial; event time passing
the gap completes the step, so an alert can come from a timer. ``until`` cancels open partials.

The engine is a pure function of (state, record) and (state, time): the operator buffers hits until
the watermark passes them and feeds them here in timestamp order, so results do not depend on
arrival order. State is plain data (see :mod:`udfs.correlate.state`).
"""

from __future__ import annotations

from typing import Any

from schemas.rules import SequenceRule, SequenceStep
from udfs.correlate.drafts import MAX_EVIDENCE, rule_draft, with_step
from udfs.correlate.fields import resolve, scalar
from udfs.correlate.match import CompiledMatcher
from udfs.correlate.records import Draft, RoutedRecord, SequenceFacts, SequencePartial
from udfs.correlate.runtime import (
    Counters,
    Groups,
    Parts,
    cap_partials,
    partial_entries,
)


class SequenceRuntime:
    """One sequence rule; its partial matches are :class:`~udfs.correlate.records.SequencePartial`."""

    kind = "sequence"

    def __init__(self, rule: SequenceRule, counters: Counters | None = None) -> None:
        self.rule = rule
        self.rule_id = rule.id
        self.stage = 1
        self.counters = counters or Counters()
        self.within = rule.within_ms
        self.steps: list[SequenceStep] = list(rule.steps)
        self.matchers = [CompiledMatcher.of(s) for s in rule.steps]
        self.keys = [rule.step_keys(i) for i in range(len(rule.steps))]
        self.gaps = [s.max_gap_ms for s in rule.steps]
        self.names = [s.name or f"step{i + 1}" for i, s in enumerate(rule.steps)]
        self.until = CompiledMatcher.of(rule.until) if rule.until else None

    # -- fan-out side ---------------------------------------------------------------------------

    def route(self, hit: dict[str, Any], groups: Groups) -> list[tuple[dict[str, str], dict[str, Any]]]:
        facts = self.facts(hit)
        if facts is None:
            return []
        group = groups.of(self.rule.group_by)
        if group is None:
            self.counters.ungrouped += 1
            return []
        return [(group, facts)]

    def facts(self, hit: dict[str, Any]) -> SequenceFacts | None:
        """Which steps the hit matches (with its join values for each) and whether it is an ``until``."""
        steps: list[int] = []
        joins: dict[str, list[str]] = {}
        for i, matcher in enumerate(self.matchers):
            if not matcher(hit):
                continue
            if self.keys[i]:
                values = [scalar(resolve(hit, k)) for k in self.keys[i]]
                if any(v is None for v in values):
                    continue  # cannot join: the hit lacks a key
                joins[str(i)] = values  # type: ignore[assignment]
            steps.append(i)
        until = self.until is not None and self.until(hit)
        if not steps and not until:
            return None
        return {"steps": steps, "join": joins, "until": until}

    # -- keyed side -----------------------------------------------------------------------------

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        ts = rec["ts"]
        drafts = self.on_time(parts, ts, group)  # decide what event time before this hit settled
        facts = rec["facts"]
        if facts["until"]:
            for pid, _ in partial_entries(parts):
                del parts[pid]
                self.counters.cancelled += 1
        matched = set(facts["steps"])
        joins = facts["join"]
        completed: list[dict[str, Any]] = []
        if matched:
            for pid, partial in partial_entries(parts):
                i = partial["next_step"]
                if i not in matched or not _joins(partial, joins.get(str(i))):
                    continue
                if self.steps[i].absent:  # the hit that must not appear did: the partial dies
                    del parts[pid]
                    self.counters.cancelled += 1
                    continue
                if ts < partial["last_ms"] or ts - partial["first_ms"] > self.within:
                    continue
                gap = self.gaps[i]
                if gap is not None and ts - partial["step_ms"] > gap:
                    continue
                grown = self._grow(partial, i, rec, joins.get(str(i)))
                if grown["next_step"] == len(self.steps):
                    completed.append({**grown, "done_ms": ts})
                    del parts[pid]
                else:
                    parts[pid] = grown
            if 0 in matched:
                start = {"pid": f"{ts}:{rec['hit_id']}", "next_step": 0, "n": 0, "first_ms": ts, "last_ms": ts,
                         "step_ms": ts, "join": None, "evidence": [], "absences": []}
                grown = self._grow(start, 0, rec, joins.get("0"))
                if grown["next_step"] == len(self.steps):
                    completed.append({**grown, "done_ms": ts})
                else:
                    parts.setdefault(grown["pid"], grown)
        self._dedupe(parts)
        cap_partials(parts, self.counters)
        return drafts + self._complete(parts, completed, group)

    def on_time(self, parts: Parts, now_ms: int, group: dict[str, str]) -> list[dict[str, Any]]:
        completed: list[dict[str, Any]] = []
        for pid, partial in partial_entries(parts):
            while True:
                i = partial["next_step"]
                step, gap = self.steps[i], self.gaps[i]
                if step.absent:
                    decided = partial["step_ms"] + gap + 1  # type: ignore[operator]
                    if now_ms < decided:
                        break
                    partial = {**partial, "next_step": i + 1, "step_ms": decided - 1,
                               "absences": [*partial.get("absences", []),
                                            {"step": self.names[i], "from_ms": partial["step_ms"],
                                             "to_ms": decided - 1}]}
                    parts[pid] = partial
                    if partial["next_step"] == len(self.steps):
                        completed.append({**partial, "done_ms": decided - 1})
                        del parts[pid]
                        break
                    continue
                gap_over = gap is not None and now_ms > partial["step_ms"] + gap
                if now_ms > partial["first_ms"] + self.within or gap_over:
                    del parts[pid]
                    self.counters.expired += 1
                break
        return self._complete(parts, completed, group)

    def deadline(self, parts: Parts) -> int | None:
        times: list[int] = []
        for _, partial in partial_entries(parts):
            i = partial["next_step"]
            gap = self.gaps[i]
            if self.steps[i].absent:
                times.append(partial["step_ms"] + gap + 1)  # type: ignore[operator]
                continue
            times.append(partial["first_ms"] + self.within + 1)
            if gap is not None:
                times.append(partial["step_ms"] + gap + 1)
        return min(times) if times else None

    # -- internals ------------------------------------------------------------------------------

    def _grow(self, partial: SequencePartial, i: int, rec: RoutedRecord, join: list[str] | None) -> SequencePartial:
        evidence = list(partial["evidence"])
        for ev in rec["evidence"]:
            if len(evidence) >= MAX_EVIDENCE:
                # Thin the middle: the timeline keeps how the match began and how it ended.
                del evidence[MAX_EVIDENCE // 2]
                self.counters.evidence_capped += 1
            evidence.append(with_step(ev, self.names[i]))
        n = partial["n"] + 1
        done = n >= self.steps[i].count
        return {
            **partial,
            "next_step": i + 1 if done else i,
            "n": 0 if done else n,
            "last_ms": rec["ts"],
            "step_ms": rec["ts"] if done else partial["step_ms"],
            "join": partial["join"] if partial["join"] is not None else join,
            "evidence": evidence,
        }

    @staticmethod
    def _dedupe(parts: Parts) -> None:
        """Two partials at the same point (step, count, start, join values) are the same match."""
        seen: set[tuple[Any, ...]] = set()
        for pid, p in partial_entries(parts):
            mark = (p["next_step"], p["n"], p["first_ms"], tuple(p["join"] or ()))
            if mark in seen:
                del parts[pid]
            seen.add(mark)

    def _complete(self, parts: Parts, completed: list[dict[str, Any]], group: dict[str, str]) -> list[dict[str, Any]]:
        """One alert per completing moment: of the partials one hit (or one passing deadline)
        completes, the earliest wins, and every partial that started no later is subsumed by it (it
        would report the same campaign again)."""
        drafts: list[dict[str, Any]] = []
        done_until = -1
        alerted_at: set[int] = set()
        for partial in sorted(completed, key=lambda p: (p["done_ms"], p["first_ms"], p["pid"])):
            if partial["first_ms"] <= done_until or partial["done_ms"] in alerted_at:
                continue
            drafts.append(self._draft(partial, group))
            done_until = partial["first_ms"]
            alerted_at.add(partial["done_ms"])
            for pid, other in partial_entries(parts):
                if other["first_ms"] <= partial["first_ms"]:
                    del parts[pid]
        return drafts

    def _draft(self, partial: SequencePartial, group: dict[str, str]) -> Draft:
        details: dict[str, Any] = {}
        if partial.get("absences"):
            details["absences"] = partial["absences"]
        if partial.get("join"):
            details["join"] = dict(zip(self.keys[-1] or self.rule.by, partial["join"], strict=False))
        return rule_draft(self.rule, self.kind, group, partial["evidence"], partial["first_ms"], partial["last_ms"],
                          details)


def _joins(partial: dict[str, Any], values: list[str] | None) -> bool:
    return values is None or partial["join"] is None or partial["join"] == values
