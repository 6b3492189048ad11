"""Tactic progression: at least N distinct ATT&CK tactics within a window, per group, in kill-chain order.

Ordered mode looks for a chain of hits h1..hN, in event time, whose tactics climb the kill chain
(strictly increasing rank: initial-access before execution before ... exfiltration) and which spans
no more than ``within``. State is a small table, ``ends[rank][length]`` = the best chain of that
length ending in that tactic, where best means the latest start (it stays inside the window
longest). 14 tactics bound it to 14 x 14 entries whatever the hit rate.

Unordered mode needs N distinct tactics within the window, in any order: the latest hit per tactic.
"""

from __future__ import annotations

from typing import Any

from schemas.rules import TacticProgressionRule
from udfs.correlate.drafts import rule_draft, with_step
from udfs.correlate.runtime import Counters, Groups, Parts
from udfs.detect.catalog import Catalog, default_catalog

ENTRY = "chains"


class ProgressionRuntime:
    kind = "tactic_progression"

    def __init__(self, rule: TacticProgressionRule, counters: Counters | None = None,
                 catalog: Catalog | None = None) -> None:
        self.rule = rule
        self.rule_id = rule.id
        self.stage = 1
        self.counters = counters or Counters()
        catalog = catalog or default_catalog()
        self.order = [t for t in catalog.tactic_order if not rule.tactics or t in rule.tactics]
        self.rank = {t: i for i, t in enumerate(self.order)}
        self.within = rule.within_ms
        self.need = rule.min_tactics

    def route(self, hit: dict[str, Any], groups: Groups) -> list[tuple[dict[str, str], dict[str, Any]]]:
        tactics = sorted({t for t in hit.get("tactics", ()) if t in self.rank}, key=self.rank.__getitem__)
        if not tactics:
            return []
        group = groups.of(self.rule.group_by)
        if group is None:
            self.counters.ungrouped += 1
            return []
        return [(group, {"tactics": tactics})]

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        ts = rec["ts"]
        state = parts.get(ENTRY) or {"ends": {}, "ev": {}}
        self._prune(state, ts)
        ref = rec["hit_id"]
        state["ev"][ref] = rec["evidence"][0]
        if self.rule.ordered:
            best = self._extend_ordered(state["ends"], rec["facts"]["tactics"], ts, ref)
        else:
            best = self._extend_unordered(state["ends"], rec["facts"]["tactics"], ts, ref)
        if best is not None:
            parts.pop(ENTRY, None)  # one alert per progression: start over
            return [self._draft(best, state["ev"], group)]
        _collect(state)
        parts[ENTRY] = state
        return []

    def on_time(self, parts: Parts, now_ms: int, group: dict[str, str]) -> list[dict[str, Any]]:
        state = parts.get(ENTRY)
        if state is not None and self._prune(state, now_ms) and not state["ends"]:
            del parts[ENTRY]
            self.counters.expired += 1
        return []

    def deadline(self, parts: Parts) -> int | None:
        state = parts.get(ENTRY)
        if not state or not state["ends"]:
            return None
        starts = [c["start"] for by_len in state["ends"].values() for c in by_len.values()]
        return min(starts) + self.within + 1

    # -- internals ------------------------------------------------------------------------------

    def _prune(self, state: dict[str, Any], now_ms: int) -> bool:
        """Drop chains that started before the window; True when anything went."""
        horizon = now_ms - self.within
        ends = state["ends"]
        changed = False
        for tactic in list(ends):
            if all(c["start"] >= horizon for c in ends[tactic].values()):
                continue
            changed = True
            by_len = {k: c for k, c in ends[tactic].items() if c["start"] >= horizon}
            if by_len:
                ends[tactic] = by_len
            else:
                del ends[tactic]
        if changed:
            _collect(state)
        return changed

    def _extend_ordered(self, ends: dict[str, dict[str, dict[str, Any]]], tactics: list[str], ts: int,
                        ref: str) -> dict[str, Any] | None:
        updates: list[tuple[str, int, dict[str, Any]]] = []
        for tactic in tactics:  # computed from the old table: one hit is one link of a chain
            rank = self.rank[tactic]
            updates.append((tactic, 1, {"start": ts, "links": [[tactic, ref]]}))
            for lower, by_len in ends.items():
                if self.rank[lower] >= rank:
                    continue
                for length, chain in by_len.items():
                    if any(_event_of(r) == _event_of(ref) for _, r in chain["links"]):
                        continue  # two detections of one event are one step of the story, not two
                    updates.append((tactic, int(length) + 1,
                                    {"start": chain["start"], "links": [*chain["links"], [tactic, ref]]}))
        best: dict[str, Any] | None = None
        for tactic, length, chain in updates:
            slot = ends.setdefault(tactic, {})
            current = slot.get(str(length))
            if current is None or chain["start"] > current["start"]:
                slot[str(length)] = chain
            if length >= self.need and (
                best is None or (length, chain["start"]) > (len(best["links"]), best["start"])
            ):
                best = chain
        return best

    def _extend_unordered(self, ends: dict[str, dict[str, dict[str, Any]]], tactics: list[str], ts: int,
                          ref: str) -> dict[str, Any] | None:
        for tactic in tactics:
            ends[tactic] = {"1": {"start": ts, "links": [[tactic, ref]]}}
        firsts = sorted((c["1"] for c in ends.values()), key=lambda c: (c["start"], self.rank[c["links"][0][0]]))
        chain, events = [], set()
        for first in reversed(firsts):  # the latest hit per tactic, one tactic per event
            tactic, r = first["links"][0]
            if _event_of(r) not in events:
                events.add(_event_of(r))
                chain.append(first)
        if len(chain) < self.need:
            return None
        chain.reverse()
        return {"start": chain[0]["start"], "links": [c["links"][0] for c in chain]}

    def _draft(self, chain: dict[str, Any], evidence_by_ref: dict[str, Any], group: dict[str, str]) -> dict[str, Any]:
        evidence = [with_step(evidence_by_ref[ref], tactic) for tactic, ref in chain["links"]]
        times = [e["timestamp_ms"] for e in evidence]
        details = {"tactics": [tactic for tactic, _ in chain["links"]], "within_ms": self.within}
        return rule_draft(self.rule, self.kind, group, evidence, min(times), max(times), details)


def _event_of(ref: str) -> str:
    """Hit ids are ``<event raw hash>:<rule id>``: the event part."""
    return ref.split(":", 1)[0]


def _collect(state: dict[str, Any]) -> None:
    """Evidence is stored once per hit and referenced by chains: drop what no chain references."""
    used = {ref for by_len in state["ends"].values() for c in by_len.values() for _, ref in c["links"]}
    for ref in [r for r in state["ev"] if r not in used]:
        del state["ev"][ref]
