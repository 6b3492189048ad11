"""Sigma correlation rules, run in event time per (rule, group-by values).

Two window disciplines, chosen per rule from its condition:

- **sliding, decided eagerly**: a condition with lower bounds only (``gt`` / ``gte``) on a count or a
  sum can only become true as events arrive, so it is checked on every event over the events of the
  last ``timespan`` (exact: a burst straddling any boundary is found). This covers event_count,
  value_count, value_sum (byte counts: non-negative) and temporal without ``not``.
- **tumbling from the first event, decided at close**: anything that later events could make false
  again (``lt``, ``lte``, ``eq``, ``neq``, ranges), and averages and percentiles, are decided when the
  watermark passes the end of the window that the group's first event opened; the next event after
  it opens the next window.

After a match the group starts over, so one burst is one alert. ``temporal_ordered`` is a sequence
over the referenced rules and runs on :class:`udfs.correlate.sequence.SequenceRuntime`.
"""

from __future__ import annotations

import math
from typing import Any

from schemas.correlation import SigmaCorrelation
from schemas.rules import SequenceRule
from udfs.correlate.drafts import MAX_EVIDENCE, rule_draft, with_step
from udfs.correlate.fields import number, resolve, scalar
from udfs.correlate.runtime import Counters, Groups, Parts
from udfs.correlate.sequence import SequenceRuntime

ENTRY = "window"
MAX_WINDOW_ITEMS = 10_000  # events / values kept per window; beyond it the oldest go (counted)
ALL = "*"  # the group of a rule without group-by


class SigmaRuntime:
    def __init__(self, rule: SigmaCorrelation, counters: Counters | None = None) -> None:
        self.rule = rule
        self.rule_id = rule.id
        self.stage = rule.stage
        self.kind = f"sigma:{rule.type}"
        self.counters = counters or Counters()
        self.span = rule.timespan_ms
        self.cond = rule.condition
        self.names = [r.name or r.ref for r in rule.refs]
        self.eager = rule.type in ("event_count", "value_count", "value_sum", "temporal") and (
            self.cond.lower_bounds_only if self.cond.tree is None else not _has_not(self.cond.tree)
        )
        self.needs_value = rule.type in ("value_count", "value_sum", "value_avg", "value_percentile")
        self.numeric = rule.type in ("value_sum", "value_avg") or (
            rule.type == "value_percentile" and self.cond.percentile is not None
        )
        self.ordered: SequenceRuntime | None = None
        if rule.type == "temporal_ordered":
            self.ordered = SequenceRuntime(_as_sequence(rule), self.counters)
            self.ordered.kind = self.kind

    # -- fan-out side ---------------------------------------------------------------------------

    def matching_refs(self, hit: dict[str, Any]) -> list[int]:
        rid, title = hit.get("rule_id"), hit.get("rule_title")
        return [i for i, r in enumerate(self.rule.refs) if rid in r.ids or (title and title in r.titles)]

    def route(self, hit: dict[str, Any], groups: Groups) -> list[tuple[dict[str, str], dict[str, Any]]]:
        routes: dict[tuple[str, ...], tuple[dict[str, str], dict[str, Any]]] = {}
        for i in self.matching_refs(hit):
            group = self._group(hit, i)
            if group is None:
                self.counters.ungrouped += 1
                continue
            value: Any = None
            if self.needs_value:
                value = self._value(hit, i)
                if value is None:
                    continue  # the aggregated field is missing: the event does not count
            marker = tuple(group.values())
            if marker in routes:
                routes[marker][1]["refs"].append(i)
            else:
                routes[marker] = (group, {"refs": [i], "value": value})
        return list(routes.values())

    def _field(self, name: str, ref_index: int) -> str:
        return self.rule.aliases.get(name, {}).get(self.rule.refs[ref_index].ref, name)

    def _group(self, hit: dict[str, Any], ref_index: int) -> dict[str, str] | None:
        if not self.rule.group_by:
            return {"all": ALL}
        out: dict[str, str] = {}
        for name in self.rule.group_by:
            value = scalar(resolve(hit, self._field(name, ref_index)))
            if value is None:
                return None
            out[name] = value
        return out

    def _value(self, hit: dict[str, Any], ref_index: int) -> Any:
        values = [resolve(hit, self._field(f, ref_index)) for f in self.cond.fields]
        if self.numeric:
            return number(values[0])
        texts = [scalar(v) for v in values]
        return None if any(t is None for t in texts) else "\x1f".join(texts)  # type: ignore[arg-type]

    # -- keyed side -----------------------------------------------------------------------------

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        if self.ordered is not None:
            seq_rec = {**rec, "facts": {"steps": rec["facts"]["refs"], "join": {}, "until": False}}
            return self.ordered.on_record(parts, seq_rec, group)
        drafts = self.on_time(parts, rec["ts"], group)
        if self.eager:
            return drafts + self._sliding(parts, rec, group)
        self._accumulate(parts, rec)
        return drafts

    def on_time(self, parts: Parts, now_ms: int, group: dict[str, str]) -> list[dict[str, Any]]:
        if self.ordered is not None:
            return self.ordered.on_time(parts, now_ms, group)
        w = parts.get(ENTRY)
        if w is None:
            return []
        if self.eager:
            if now_ms > w["newest"] + self.span:
                del parts[ENTRY]
                self.counters.expired += 1
            return []
        if now_ms <= w["start"] + self.span:
            return []
        del parts[ENTRY]
        return self._decide(w, group)

    def deadline(self, parts: Parts) -> int | None:
        if self.ordered is not None:
            return self.ordered.deadline(parts)
        w = parts.get(ENTRY)
        if w is None:
            return None
        return (w["newest"] if self.eager else w["start"]) + self.span + 1

    # -- sliding, eager ---------------------------------------------------------------------------

    def _sliding(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        ts = rec["ts"]
        w = parts.get(ENTRY) or {"items": [], "newest": ts}
        horizon = ts - self.span
        w["items"] = [it for it in w["items"] if it[0] >= horizon]
        ev = rec["evidence"]
        if self.rule.type == "value_count":
            # One item per distinct value, at its latest time: the distinct count of the window.
            w["items"] = [it for it in w["items"] if it[2] != rec["facts"]["value"]]
            w["items"].append([ts, rec["facts"]["refs"], rec["facts"]["value"], ev])
        elif self.rule.type == "temporal":
            refs = set(rec["facts"]["refs"])
            w["items"] = [it for it in w["items"] if not set(it[1]) <= refs]
            w["items"].append([ts, rec["facts"]["refs"], None, ev])
        else:
            w["items"].append([ts, rec["facts"]["refs"], rec["facts"]["value"], ev])
        w["newest"] = ts
        self._bound(w["items"])
        metric = self._metric_sliding(w["items"])
        if metric is not None:
            del parts[ENTRY]
            items = w["items"]
            return [self._draft(group, items, metric, items[0][0], ts)]
        parts[ENTRY] = w
        return []

    def _bound(self, items: list[list[Any]]) -> None:
        if len(items) > MAX_WINDOW_ITEMS:
            drop = len(items) - MAX_WINDOW_ITEMS
            del items[:drop]
            self.counters.window_capped += drop
        # Evidence rides on the newest items only: state per group stays small however many events.
        if len(items) > MAX_EVIDENCE and items[-MAX_EVIDENCE - 1][3]:
            items[-MAX_EVIDENCE - 1][3] = []

    def _metric_sliding(self, items: list[list[Any]]) -> float | None:
        kind = self.rule.type
        if kind == "temporal":
            present = {i for it in items for i in it[1]}
            if self.cond.tree is not None:
                return float(len(present)) if _evaluate(self.cond.tree, present, self._ref_index) else None
            value = float(len(present))
        elif kind == "value_sum":
            value = float(sum(it[2] for it in items))
        else:  # event_count: one item per event; value_count: one item per distinct value
            value = float(len(items))
        return value if self.cond.holds(value) else None

    def _ref_index(self, text: str) -> int | None:
        return next((i for i, r in enumerate(self.rule.refs) if text in (r.ref, r.name)), None)

    # -- tumbling, decided at close ---------------------------------------------------------------

    def _accumulate(self, parts: Parts, rec: dict[str, Any]) -> None:
        ts = rec["ts"]
        w = parts.get(ENTRY) or {"start": ts, "newest": ts, "n": 0, "sum": 0.0, "vals": {}, "nums": [],
                                 "refs": {}, "ev": []}
        w["n"] += 1
        w["newest"] = ts
        x = rec["facts"]["value"]
        kind = self.rule.type
        if kind in ("value_sum", "value_avg"):
            w["sum"] += x
        elif kind == "value_percentile" and self.numeric:
            if len(w["nums"]) < MAX_WINDOW_ITEMS:
                w["nums"].append(x)
            else:
                self.counters.window_capped += 1
        elif kind in ("value_count", "value_percentile"):
            entry = w["vals"].get(x)
            if entry is not None:
                entry[0] += 1
            elif len(w["vals"]) < MAX_WINDOW_ITEMS:
                w["vals"][x] = [1, rec["evidence"][0] if len(w["vals"]) < MAX_EVIDENCE else None]
            else:
                self.counters.window_capped += 1
        elif kind == "temporal":
            for i in rec["facts"]["refs"]:
                w["refs"].setdefault(str(i), rec["evidence"])
        if kind != "value_percentile" or self.numeric:
            if len(w["ev"]) < MAX_EVIDENCE:
                w["ev"].extend(rec["evidence"][: MAX_EVIDENCE - len(w["ev"])])
            else:
                self.counters.evidence_capped += 1
        parts[ENTRY] = w

    def _decide(self, w: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        kind = self.rule.type
        details: dict[str, Any] = {}
        evidence = w["ev"]
        if kind == "event_count":
            metric: float | None = float(w["n"])
        elif kind == "value_count":
            metric = float(len(w["vals"]))
        elif kind == "value_sum":
            metric = w["sum"]
        elif kind == "value_avg":
            metric = w["sum"] / w["n"]
        elif kind == "value_percentile" and self.numeric:
            metric = _percentile(sorted(w["nums"]), self.cond.percentile or 50)
        elif kind == "value_percentile":
            # The specification's reading: values whose share of the window's events meets the condition.
            shares = {v: 100.0 * c / w["n"] for v, (c, _) in w["vals"].items()}
            rare = sorted((v for v, share in shares.items() if self.cond.holds(share)), key=lambda v: (shares[v], v))
            if not rare:
                return []
            details["values"] = {v.replace("\x1f", " "): round(shares[v], 3) for v in rare[:20]}
            evidence = [w["vals"][v][1] for v in rare if w["vals"][v][1] is not None]
            metric = shares[rare[0]]
            return [self._draft(group, None, metric, w["start"], w["newest"], evidence=evidence, details=details)]
        else:  # temporal with a condition later events could break
            present = {int(i) for i in w["refs"]}
            evidence = [e for evs in w["refs"].values() for e in evs]
            if self.cond.tree is not None:
                if not _evaluate(self.cond.tree, present, self._ref_index):
                    return []
                metric = float(len(present))
                return [self._draft(group, None, metric, w["start"], w["newest"], evidence=evidence)]
            metric = float(len(present))
        if metric is None or not self.cond.holds(metric):
            return []
        return [self._draft(group, None, metric, w["start"], w["newest"], evidence=evidence, details=details)]

    # -- drafts ------------------------------------------------------------------------------------

    def _draft(self, group: dict[str, str], items: list[list[Any]] | None, metric: float, first_ms: int,
               last_ms: int, *, evidence: list[dict[str, Any]] | None = None,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
        if items is not None:
            evidence = []
            for it in items:
                step = self.names[it[1][0]] if it[1] else ""
                evidence += [with_step(e, step) for e in it[3]]
        else:
            evidence = [e if "step" in e else with_step(e, self.rule.type) for e in evidence or []]
        evidence = evidence[-MAX_EVIDENCE:]
        details = {"type": self.rule.type, "value": metric,
                   "condition": dict(self.cond.ops) if self.cond.tree is None else self.cond.expression,
                   "timespan_ms": self.span, **(details or {})}
        return rule_draft(self.rule, self.kind, group, evidence, first_ms, last_ms, details,
                          group_by=list(self.rule.group_by) or ["all"])


def _as_sequence(rule: SigmaCorrelation) -> SequenceRule:
    return SequenceRule.model_validate({
        "kind": "sequence",
        "id": rule.id,
        "title": rule.title,
        "within": rule.timespan_ms,
        "level": rule.level,
        "group_by": list(rule.group_by) or "host",
        "steps": [{"name": r.name or r.ref, "rule_ids": list(r.ids)} for r in rule.refs],
    })


def _has_not(tree: list[Any]) -> bool:
    return tree[0] == "not" or any(_has_not(t) for t in tree[1:] if isinstance(t, list))


def _evaluate(tree: list[Any], present: set[int], index_of: Any) -> bool:
    op = tree[0]
    if op == "ref":
        i = index_of(tree[1])
        return i is not None and i in present
    if op == "not":
        return not _evaluate(tree[1], present, index_of)
    results = [_evaluate(t, present, index_of) for t in tree[1:]]
    return all(results) if op == "and" else any(results)


def _percentile(values: list[float], p: int) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)
