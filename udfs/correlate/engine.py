"""All correlation rules of a job: fan-out of hits to (rule, group) keys, and the keyed dispatch.

Fan-out is the only place a hit meets every rule, so it is indexed: a hit is offered only to the
rules that could use it, found by its techniques (and their parents), tactics, rule id and title;
rules that match on fields alone are always offered. A routed record is small (evidence entry and
the rule's facts, not the event), since a hit can feed many rules.

Chains (a Sigma correlation over another correlation) run in a second keyed operator: a match of an
inner correlation becomes a hit-like record routed to the outer rules (stage 2). Whether the inner
match is also an alert follows ``generate`` of the rules that use it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from schemas.correlation import SigmaCorrelation
from schemas.risk import RiskThresholdRule
from schemas.rules import SequenceRule, TacticProgressionRule
from udfs.correlate.drafts import evidence_of
from udfs.correlate.progression import ProgressionRuntime
from udfs.correlate.records import Draft, Group, Hit, RoutedRecord
from udfs.correlate.risk import RiskRuntime
from udfs.correlate.runtime import Counters, Groups, Parts, Runtime, make_key, rule_of_key
from udfs.correlate.sequence import SequenceRuntime
from udfs.correlate.sigma_runtime import SigmaRuntime
from udfs.detect.catalog import Catalog, default_catalog


@dataclass
class RuleSet:
    sequences: list[SequenceRule] = field(default_factory=list)
    progressions: list[TacticProgressionRule] = field(default_factory=list)
    correlations: list[SigmaCorrelation] = field(default_factory=list)
    risks: list[RiskThresholdRule] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sequences) + len(self.progressions) + len(self.correlations) + len(self.risks)


@dataclass
class Output:
    """What the keyed operator emits: an alert draft, or a record for the stage-2 operator."""

    alerts: list[Draft] = field(default_factory=list)
    chained: list[RoutedRecord] = field(default_factory=list)


class Correlation:
    def __init__(self, rules: RuleSet, catalog: Catalog | None = None) -> None:
        self.counters = Counters()
        catalog = catalog or default_catalog()
        runtimes: list[Runtime] = [SequenceRuntime(r, self.counters) for r in rules.sequences]
        runtimes += [ProgressionRuntime(r, self.counters, catalog) for r in rules.progressions]
        runtimes += [SigmaRuntime(r, self.counters) for r in rules.correlations]
        runtimes += [RiskRuntime(r, self.counters) for r in rules.risks]
        self.runtimes: dict[str, Runtime] = {rt.rule_id: rt for rt in runtimes}
        # Inner correlations: which outer rules consume them, and whether they alert on their own.
        users: dict[str, list[SigmaCorrelation]] = defaultdict(list)
        for outer in rules.correlations:
            for ref in outer.refs:
                if ref.correlation:
                    users[ref.ids[0]].append(outer)
        self.feeds_stage2 = {rid for rid in users}
        self.silent = {rid for rid, outers in users.items() if not any(o.generate for o in outers)}
        self._index = {stage: _Index([rt for rt in runtimes if rt.stage == stage], rules) for stage in (1, 2)}

    def has_stage2(self) -> bool:
        return bool(self._index[2].runtimes)

    def could_use(self, hit: dict[str, Any]) -> bool:
        """Whether any rule (either stage) could take this hit: cheap, index only."""
        return any(self._index[stage].candidates(hit) for stage in (1, 2))

    # -- fan-out ----------------------------------------------------------------------------------

    def route(self, hit: dict[str, Any], stage: int = 1) -> list[RoutedRecord]:
        """The records one (linked) hit feeds: one per (rule, group) key of ``stage``."""
        candidates = self._index[stage].candidates(hit)
        if not candidates:
            return []
        evidence = hit.get("evidence_list") or [evidence_of(hit)]
        groups = Groups(hit)
        return [
            {"key": make_key(runtime.rule_id, group), "ts": hit["timestamp_ms"], "hit_id": hit["hit_id"],
             "group": group, "evidence": evidence, "facts": facts}
            for runtime in candidates
            for group, facts in runtime.route(hit, groups)
        ]

    # -- keyed ------------------------------------------------------------------------------------

    def runtime_of(self, key: str) -> Runtime | None:
        return self.runtimes.get(rule_of_key(key))

    def fire(self, key: str, group: Group | None, parts: Parts, records: list[RoutedRecord],
             now_ms: int) -> tuple[Output, Group | None, int | None]:
        """Event time reached ``now_ms`` for ``key``: apply the records due (in event-time order), then
        let time pass. ``group`` is the key's group values (None before its first record). Returns the
        outputs, the group to keep (None: the key is done, clear it) and the next deadline."""
        out = Output()
        runtime = self.runtime_of(key)
        if runtime is None:  # rule removed since the savepoint: nothing can complete
            self.counters.expired += len(parts)
            parts.clear()
            return out, None, None
        for rec in records:
            group = group if group is not None else rec["group"]
            self._emit(runtime, runtime.on_record(parts, rec, group), out)
        self._emit(runtime, runtime.on_time(parts, now_ms, group or {}), out)
        if not parts:
            return out, None, None
        return out, group, runtime.deadline(parts)

    def _emit(self, runtime: Runtime, drafts: list[Draft], out: Output) -> None:
        for draft in drafts:
            if runtime.rule_id not in self.silent:
                out.alerts.append(draft)
            if runtime.rule_id in self.feeds_stage2:
                out.chained += self.route(_as_hit(draft), stage=2)


def _as_hit(draft: Draft) -> Hit:
    """An inner correlation's match as a hit of rule ``draft.rule_id`` for the outer rules: its group
    values are its fields, its evidence travels along so the outer alert shows one timeline."""
    evidence = draft["evidence"]
    techniques = list(dict.fromkeys(t for e in evidence for t in e["techniques"]))
    tactics = list(dict.fromkeys(t for e in evidence for t in e["tactics"]))
    hosts = [e["host"] for e in evidence if e.get("host")]
    users = [e["user"] for e in evidence if e.get("user")]
    fields = dict(draft["group"])
    return {
        "hit_id": f"correlation:{draft['alert_id']}",
        "timestamp_ms": draft["last_ms"],
        "rule_id": draft["rule_id"],
        "rule_title": draft["rule_title"],
        "rule_source": "correlation",
        "level": draft["rule_level"],
        "techniques": techniques,
        "tactics": tactics,
        "host": hosts[-1] if hosts else None,
        "user": users[-1] if users else None,
        "link": {"host": hosts[-1] if hosts else None, "user": users[-1] if users else None},
        "event": {**fields, "original": fields, "id": draft["alert_id"], "raw_sha256": draft["alert_id"][:16],
                  "source_format": "correlation"},
        "evidence_list": [{k: v for k, v in e.items() if k != "step"} for e in evidence],
    }


class _Index:
    """Which rules a hit could concern, without asking every rule."""

    def __init__(self, runtimes: list[Runtime], rules: RuleSet) -> None:
        self.runtimes = runtimes
        self.by_technique: dict[str, list[Runtime]] = defaultdict(list)
        self.by_tactic: dict[str, list[Runtime]] = defaultdict(list)
        self.by_rule: dict[str, list[Runtime]] = defaultdict(list)
        self.always: list[Runtime] = []
        for rt in runtimes:
            keys = _trigger_keys(rt)
            if keys is None:
                self.always.append(rt)
                continue
            for kind, value in keys:
                {"t": self.by_technique, "a": self.by_tactic, "r": self.by_rule}[kind][value].append(rt)

    def candidates(self, hit: dict[str, Any]) -> list[Runtime]:
        found: dict[str, Runtime] = {rt.rule_id: rt for rt in self.always}
        for tid in hit.get("techniques", ()):
            for key in (tid, tid.split(".", 1)[0]):
                for rt in self.by_technique.get(key, ()):
                    found[rt.rule_id] = rt
        for tactic in hit.get("tactics", ()):
            for rt in self.by_tactic.get(tactic, ()):
                found[rt.rule_id] = rt
        for key in (hit.get("rule_id"), hit.get("rule_title")):
            for rt in self.by_rule.get(key or "", ()):
                found[rt.rule_id] = rt
        return [found[k] for k in sorted(found)]


def _trigger_keys(rt: Runtime) -> list[tuple[str, str]] | None:
    """(kind, value) pairs that make a hit worth offering to ``rt``; None: offer every hit."""
    keys: list[tuple[str, str]] = []
    if isinstance(rt, SigmaRuntime):
        for ref in rt.rule.refs:
            keys += [("r", i) for i in ref.ids] + [("r", t) for t in ref.titles]
        return keys
    if isinstance(rt, ProgressionRuntime):
        return [("a", t) for t in rt.order]
    if isinstance(rt, RiskRuntime):  # a signal filter without kinds (or with where) may take any hit
        spec = rt.rule.signals
        if spec.where or not (spec.techniques or spec.tactics or spec.rule_ids):
            return None
        return [("t", t) for t in spec.techniques] + [("a", t) for t in spec.tactics] + \
            [("r", r) for r in spec.rule_ids]
    assert isinstance(rt, SequenceRuntime)
    specs = list(rt.rule.steps) + ([rt.rule.until] if rt.rule.until else [])
    for spec in specs:
        if not (spec.techniques or spec.tactics or spec.rule_ids):
            return None  # a where-only step or until: any hit may match it
        keys += [("t", t) for t in spec.techniques] + [("a", t) for t in spec.tactics]
        keys += [("r", r) for r in spec.rule_ids]
    return keys
