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
from udfs.correlate.drafts import MAX_EVIDENCE, evidence_of, make_draft, with_step
from udfs.correlate.fields import resolve, scalar
from udfs.correlate.match import CompiledMatcher, technique_matches
from udfs.correlate.runtime import (
    MAX_PARTIALS_PER_KEY,
    Counters,
    Parts,
    cap_partials,
    group_values,
    partial_entries,
)

__all__ = ["MAX_EVIDENCE", "MAX_PARTIALS_PER_RULE", "SequenceEngine", "SequenceRuntime", "technique_matches"]

MAX_PARTIALS_PER_RULE = MAX_PARTIALS_PER_KEY


class SequenceRuntime:
    """One sequence rule. Partial match (plain dict, state version 2)::

        {"pid": id, "next_step": i, "n": hits counted toward step i, "first_ms", "last_ms",
         "step_ms": when step i-1 completed, "join": [values] | None, "evidence": [...],
         "absences": [{"step", "from_ms", "to_ms"}]}
    """

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

    def route(self, hit: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
        payload = self.payload(hit)
        if payload is None:
            return []
        group = group_values(hit, self.rule.group_by)
        if group is None:
            self.counters.ungrouped += 1
            return []
        return [(group, payload)]

    def payload(self, hit: dict[str, Any]) -> dict[str, Any] | None:
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
        return {"s": steps, "j": joins, "u": until}

    # -- keyed side -----------------------------------------------------------------------------

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        ts = rec["ts"]
        drafts = self.on_time(parts, ts, group)  # decide what event time before this hit settled
        payload = rec["p"]
        if payload.get("u"):
            for pid, _ in partial_entries(parts):
                del parts[pid]
                self.counters.cancelled += 1
        matched = set(payload["s"])
        joins = payload["j"]
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

    def _grow(self, partial: dict[str, Any], i: int, rec: dict[str, Any], join: list[str] | None) -> dict[str, Any]:
        evidence = list(partial["evidence"])
        for ev in rec["evs"]:
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

    def _draft(self, partial: dict[str, Any], group: dict[str, str]) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if partial.get("absences"):
            details["absences"] = partial["absences"]
        if partial.get("join"):
            details["join"] = dict(zip(self.keys[-1] or self.rule.by, partial["join"], strict=False))
        return make_draft(
            rule_id=self.rule.id,
            rule_title=self.rule.title,
            level=self.rule.level,
            kind=self.kind,
            group_by=self.rule.group_by,
            group=group,
            evidence=partial["evidence"],
            first_ms=partial["first_ms"],
            last_ms=partial["last_ms"],
            details=details,
        )


def _joins(partial: dict[str, Any], values: list[str] | None) -> bool:
    return values is None or partial["join"] is None or partial["join"] == values


class SequenceEngine:
    """Every sequence rule for one entity: the per-entity view the v1 job had, kept for callers that
    hold ``{rule_id: [partial, ...]}`` (tests, state migration). The job itself keys by (rule, group)
    and calls :class:`SequenceRuntime` directly."""

    def __init__(self, rules: list[SequenceRule]) -> None:
        self.counters = Counters()
        self.runtimes = {rule.id: SequenceRuntime(rule, self.counters) for rule in rules}
        self.rules = {rule.id: rule for rule in rules}

    def on_hit(self, partials: dict[str, list[dict[str, Any]]], key: str, hit: dict[str, Any]) -> list[dict]:
        """Advance partial matches with one hit; return completed matches (as alert drafts)."""
        drafts: list[dict[str, Any]] = []
        rec = {"ts": hit["timestamp_ms"], "hit_id": hit["hit_id"], "evs": [evidence_of(hit)]}
        for rule_id, runtime in self.runtimes.items():
            payload = runtime.payload(hit)
            parts = _as_parts(partials.get(rule_id, []))
            if payload is None:
                drafts += runtime.on_time(parts, rec["ts"], {"host": key})
            else:
                drafts += runtime.on_record(parts, {**rec, "p": payload}, {"host": key})
            _store(partials, rule_id, parts)
        return drafts

    def expire(self, partials: dict[str, list[dict[str, Any]]], now_ms: int, key: str = "-") -> list[dict]:
        """Event time reached ``now_ms``: drop closed windows, decide absences (which may complete)."""
        drafts: list[dict[str, Any]] = []
        for rule_id in list(partials):
            runtime = self.runtimes.get(rule_id)
            if runtime is None:  # rule removed since the savepoint: its partials can never complete
                self.counters.expired += len(partials.pop(rule_id))
                continue
            parts = _as_parts(partials[rule_id])
            drafts += runtime.on_time(parts, now_ms, {"host": key})
            _store(partials, rule_id, parts)
        return drafts

    def next_deadline(self, partials: dict[str, list[dict[str, Any]]]) -> int | None:
        times = [
            t for rid, plist in partials.items() if rid in self.runtimes
            for t in [self.runtimes[rid].deadline(_as_parts(plist))] if t is not None
        ]
        return min(times) if times else None


def _as_parts(plist: list[dict[str, Any]]) -> Parts:
    from udfs.correlate.state import upgrade_partial

    parts: Parts = {}
    for p in plist:
        p = upgrade_partial(p)
        parts[p["pid"]] = p
    return parts


def _store(partials: dict[str, list[dict[str, Any]]], rule_id: str, parts: Parts) -> None:
    live = [p for _, p in partial_entries(parts)]
    if live:
        partials[rule_id] = live
    else:
        partials.pop(rule_id, None)
