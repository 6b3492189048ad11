"""Which correlation rules run in the JVM (Flink SQL) and which on the Python keyed operator, and why.

The JVM path needs a SQL form whose alerts are *identical* to the Python reference engine's
(:mod:`udfs.correlate.sequence` and friends): the differential test holds the two to that. What has
no such form yet runs on the Python keyed operator, fed only the hits of those rules, and
``ttpflow rules check --explain`` says which path each rule takes and why.

The plan also does the per-hit work the SQL cannot: which rule steps a hit matches (techniques with
their parents, tactics, rule ids, ``where`` predicates, Sigma rule references, all in Python as the
reference evaluates them), and the values of group-by fields named by path. These travel on the hit
row as ``tags`` (``rule`` and ``rule#step``) and ``keys`` (``rule@group``, ``rule@tactics``,
``rule@refs``, ``rule@x`` -> text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.correlation import SigmaCorrelation
from schemas.risk import RiskThresholdRule
from schemas.rules import SequenceRule, TacticProgressionRule
from udfs.correlate.engine import RuleSet
from udfs.correlate.fields import resolve, scalar
from udfs.correlate.match import CompiledMatcher
from udfs.correlate.progression import ProgressionRuntime
from udfs.correlate.risk import KIND as RISK_KIND
from udfs.correlate.risk import SignalFilter, rule_facts
from udfs.correlate.runtime import KEY_SEPARATOR
from udfs.correlate.sigma_runtime import SigmaRuntime

Path = Literal["jvm", "python"]
ENTITY_GROUPS = ("host", "user", "entity")  # resolved after linking, in SQL
FALLBACK_TAG = "~python"  # the hit feeds at least one rule of the Python path
SLIDING_TYPES = ("event_count", "value_count", "value_sum", "temporal")


@dataclass(frozen=True)
class RulePath:
    rule_id: str
    kind: str
    path: Path
    why: str


RISK_KEY = "~risk"  # keys[RISK_KEY]: the risk score of a hit that some risk_threshold rule counts


@dataclass(frozen=True)
class MatchSpec:
    """What turns a JVM match of one rule into the reference's draft."""

    rule_id: str
    title: str
    level: str
    kind: str  # sequence | tactic_progression | sigma:<type> | risk_threshold
    group_by: str | list[str]  # how the group values are named (as the reference's route names them)
    draft_group_by: str | list[str]  # what the draft says it grouped by
    within_ms: int
    details: dict[str, Any] = field(default_factory=dict)


def _needs_link(name: str) -> bool:
    return name in ENTITY_GROUPS or name.startswith("link.")


def _group_problem(group_by: str | list[str] | tuple[str, ...]) -> str | None:
    groups = [group_by] if isinstance(group_by, str) else list(group_by)
    if len(groups) > 1 and any(_needs_link(g) for g in groups):
        return "group_by mixes the linked entity with other fields"
    if any(g.startswith("link.") for g in groups):
        return "group_by on a link.* field"
    return None


def sequence_path(rule: SequenceRule) -> tuple[Path, str]:
    """The JVM path runs a sequence as MATCH_RECOGNIZE with AFTER MATCH SKIP TO LAST B. That is the
    reference's "one alert per completing hit, the earliest start wins, every partial that started
    no later is subsumed" exactly when no partial can outlive a completion: two steps of one hit
    each, no join keys (a partial on another join value survives a completion in the reference), no
    absence or ``until`` (decided by time or by cancelling hits)."""
    if len(rule.steps) != 2:
        return "python", f"{len(rule.steps)} steps: a partial started after the first can outlive a match"
    if rule.until is not None:
        return "python", "until: cancelling partial matches has no MATCH_RECOGNIZE form"
    for i, step in enumerate(rule.steps):
        if step.absent:
            return "python", f"step {i + 1} is absent: decided by event time, not by a row"
        if step.count != 1:
            return "python", f"step {i + 1} counts {step.count} hits: a later partial can outlive a match"
        if step.by or rule.by:
            return "python", "join keys (by): a partial on another join value outlives a match"
        if any(_needs_link(str(k)) for k in step.where):
            return "python", f"step {i + 1} has a where predicate on the linked entity"
    reason = _group_problem(rule.group_by)
    if reason:
        return "python", reason
    return "jvm", "MATCH_RECOGNIZE (two steps, AFTER MATCH SKIP TO LAST B)"


def progression_path(rule: TacticProgressionRule) -> tuple[Path, str]:
    reason = _group_problem(rule.group_by)
    if reason:
        return "python", reason
    return "jvm", "OVER aggregation with the JVM function tactic_progression (the reference's chain table)"


def risk_path(rule: RiskThresholdRule) -> tuple[Path, str]:
    reason = _group_problem(rule.group_by)
    if reason:
        return "python", reason
    return "jvm", ("MATCH_RECOGNIZE over the entity's signals and their risk (sum within the window, "
                   "AFTER MATCH SKIP PAST LAST ROW)")


def _sigma_problem(rule: SigmaCorrelation) -> str | None:
    """Why a Sigma correlation over detection hits has no faithful SQL form, or None."""
    if rule.aliases:
        return "aliases: the group-by field differs per referenced rule"
    reason = _group_problem(rule.group_by)
    if reason:
        return reason
    if rule.type == "temporal_ordered":
        if len(rule.refs) != 2:
            return f"temporal_ordered over {len(rule.refs)} rules: a later partial can outlive a match"
        if not rule.group_by:
            return "temporal_ordered without group-by"
        return None
    cond = rule.condition
    if rule.type in SLIDING_TYPES and cond.tree is None and cond.lower_bounds_only:
        return None
    return "decided when the window closes (an event-time timer): no OVER form"


def sigma_paths(rules: list[SigmaCorrelation]) -> dict[str, tuple[Path, str]]:
    """A chain (a correlation over correlations) takes the JVM path as a whole: an outer
    ``temporal_ordered`` over two rules whose inner correlations each take it and feed only it; the
    inner matches come back as hits of the outer rule. Otherwise the chain runs in Python, all of it."""
    by_id = {r.id: r for r in rules}
    users: dict[str, list[str]] = {}
    for rule in rules:
        for ref in rule.refs:
            if ref.correlation:
                users.setdefault(ref.ids[0], []).append(rule.id)
    out: dict[str, tuple[Path, str]] = {}
    for rule in rules:
        inner_ids = [ref.ids[0] for ref in rule.refs if ref.correlation]
        if rule.id in users:
            continue  # decided with its outer rule
        reason = _sigma_problem(rule)
        if not inner_ids:
            out[rule.id] = ("python", reason) if reason else ("jvm", _JVM_WHY[rule.type == "temporal_ordered"])
            continue
        inners = [by_id.get(i) for i in inner_ids]
        if reason is None and rule.type != "temporal_ordered":
            reason = "only a temporal_ordered rule over correlations runs in the JVM"
        for inner in inners:
            if reason is None and (inner is None or len(users.get(inner.id, ())) != 1):
                reason = "an inner correlation that feeds several rules"
            elif reason is None and inner is not None:
                problem = _sigma_problem(inner)
                if problem or inner.type == "temporal_ordered" or any(r.correlation for r in inner.refs):
                    reason = f"its inner correlation {inner.id}: {problem or 'not a sliding window over hits'}"
        for i in [rule.id, *inner_ids]:
            if reason:
                out[i] = ("python", f"a chain: {reason}" if i == rule.id else "the inner rule of a chain that "
                          f"runs in Python ({reason})")
            else:
                out[i] = ("jvm", _JVM_WHY[i == rule.id] + (" over an inner correlation" if i == rule.id else
                                                            ", its matches fed to the rule over it"))
    for rule in rules:  # inner rules whose outer is missing from the set
        out.setdefault(rule.id, ("python", "the inner rule of a chain"))
    return out


_JVM_WHY = {
    True: "MATCH_RECOGNIZE (two rules in order, AFTER MATCH SKIP TO LAST B)",
    False: "OVER aggregation with the JVM function sigma_sliding (the reference's sliding window)",
}


@dataclass
class CorrelationPlan:
    ruleset: RuleSet
    jvm_sequences: list[SequenceRule] = field(default_factory=list)
    jvm_progressions: list[TacticProgressionRule] = field(default_factory=list)
    jvm_sliding: list[SigmaCorrelation] = field(default_factory=list)
    jvm_ordered: list[SigmaCorrelation] = field(default_factory=list)  # temporal_ordered, as sequences
    jvm_risks: list[RiskThresholdRule] = field(default_factory=list)
    python: RuleSet = field(default_factory=RuleSet)
    paths: list[RulePath] = field(default_factory=list)

    def __post_init__(self) -> None:
        for rule in self.ruleset.sequences:
            path, why = sequence_path(rule)
            self.paths.append(RulePath(rule.id, "sequence", path, why))
            (self.jvm_sequences if path == "jvm" else self.python.sequences).append(rule)
        for prog in self.ruleset.progressions:
            path, why = progression_path(prog)
            self.paths.append(RulePath(prog.id, "tactic_progression", path, why))
            (self.jvm_progressions if path == "jvm" else self.python.progressions).append(prog)
        decided = sigma_paths(list(self.ruleset.correlations))
        self.chained: set[str] = set()  # inner correlations whose matches feed a JVM outer rule
        for corr in self.ruleset.correlations:
            path, why = decided[corr.id]
            self.paths.append(RulePath(corr.id, f"sigma:{corr.type}", path, why))
            if path == "python":
                self.python.correlations.append(corr)
                continue
            (self.jvm_ordered if corr.type == "temporal_ordered" else self.jvm_sliding).append(corr)
            self.chained |= {ref.ids[0] for ref in corr.refs if ref.correlation}
        for risk in self.ruleset.risks:  # every entity is a single host / user / field: always the JVM
            path, why = risk_path(risk)
            self.paths.append(RulePath(risk.id, RISK_KIND, path, why))
            (self.jvm_risks if path == "jvm" else self.python.risks).append(risk)
        self._risk_filters = [(r, SignalFilter(r)) for r in self.jvm_risks]
        self.silent = {i for i in self.chained
                       if not any(c.generate for c in self.jvm_ordered if i in {r.ids[0] for r in c.refs})}
        self._matchers = {r.id: [CompiledMatcher.of(s) for s in r.steps] for r in self.jvm_sequences}
        self._progressions = [ProgressionRuntime(r) for r in self.jvm_progressions]
        self._sigma = [SigmaRuntime(r) for r in [*self.jvm_sliding, *self.jvm_ordered]]
        self._python_index: Any = None

    @property
    def has_python(self) -> bool:
        return len(self.python) > 0

    @property
    def has_jvm(self) -> bool:
        return bool(self.jvm_sequences or self.jvm_progressions or self.jvm_sliding or self.jvm_ordered
                    or self.jvm_risks)

    def tags(self, hit: dict[str, Any], risk: dict[str, Any] | None = None) -> tuple[list[str], dict[str, str]]:
        """(tags, keys) of one unlinked hit (see the module doc); ``~python`` when a Python-path rule
        could use it. ``risk``: the hit's risk (udfs.score), which risk rules filter on."""
        tags: list[str] = []
        keys: dict[str, str] = {}
        for rule in self.jvm_sequences:
            steps = [i for i, m in enumerate(self._matchers[rule.id]) if m(hit)]
            if steps and self._group_keys(rule.id, rule.group_by, hit, keys):
                tags.append(rule.id)
                tags += [f"{rule.id}#{i}" for i in steps]
        for prog in self._progressions:
            tactics = sorted({t for t in hit.get("tactics", ()) if t in prog.rank}, key=prog.rank.__getitem__)
            if tactics and self._group_keys(prog.rule_id, prog.rule.group_by, hit, keys):
                tags.append(prog.rule_id)
                keys[f"{prog.rule_id}@tactics"] = ",".join(tactics)
        for sigma in self._sigma:
            self._sigma_tags(sigma, hit, tags, keys)
        for rule, signals in self._risk_filters:
            score = signals.score(hit, risk)
            if score is not None and self._group_keys(rule.id, rule.group_by, hit, keys):
                tags.append(rule.id)
                # In the keys map, not a column of its own: a new column would change the row type the
                # linking stages keep in state, and savepoints of earlier builds would not restore.
                keys[RISK_KEY] = str(score)
        if self.has_python and self._python_candidate(hit):
            tags.append(FALLBACK_TAG)
        return tags, keys

    def _sigma_tags(self, sigma: SigmaRuntime, hit: dict[str, Any], tags: list[str], keys: dict[str, str]) -> None:
        refs = sigma.matching_refs(hit)
        if not refs or not self._group_keys(sigma.rule_id, list(sigma.rule.group_by), hit, keys):
            return
        if sigma.needs_value:
            value = sigma._value(hit, refs[0])  # no aliases on this path: one field for every reference
            if value is None:
                return  # the aggregated field is missing: the hit does not count (as in the reference)
            keys[f"{sigma.rule_id}@x"] = repr(value) if isinstance(value, float) else str(value)
        tags.append(sigma.rule_id)
        keys[f"{sigma.rule_id}@refs"] = ",".join(map(str, refs))
        if sigma.rule.type == "temporal_ordered":
            tags += [f"{sigma.rule_id}#{i}" for i in refs]

    @staticmethod
    def _group_keys(rule_id: str, group_by: str | list[str], hit: dict[str, Any], keys: dict[str, str]) -> bool:
        """Field-path group values, computed here (the linked entity is grouped on in SQL); False
        when the hit lacks one (it cannot be grouped: the reference counts and skips it too)."""
        names = [group_by] if isinstance(group_by, str) else list(group_by)
        if not names or (len(names) == 1 and names[0] in ENTITY_GROUPS):
            return True
        values = [scalar(resolve(hit, n)) for n in names]
        if any(v is None for v in values):
            return False
        keys[f"{rule_id}@group"] = KEY_SEPARATOR.join(values)  # type: ignore[arg-type]
        return True

    def _python_candidate(self, hit: dict[str, Any]) -> bool:
        if self._python_index is None:
            from udfs.correlate.engine import Correlation

            self._python_index = Correlation(self.python)
        return bool(self._python_index.could_use(hit))

    def tactic_order(self, rule_id: str) -> list[str]:
        return next(p.order for p in self._progressions if p.rule_id == rule_id)

    def specs(self) -> dict[str, MatchSpec]:
        out: dict[str, MatchSpec] = {}
        for r in self.jvm_sequences:
            out[r.id] = MatchSpec(r.id, r.title, r.level, "sequence", r.group_by, r.group_by, r.within_ms)
        for p in self.jvm_progressions:
            out[p.id] = MatchSpec(p.id, p.title, p.level, "tactic_progression", p.group_by, p.group_by, p.within_ms)
        for c in self.jvm_ordered:
            group = list(c.group_by)
            out[c.id] = MatchSpec(c.id, c.title, c.level, f"sigma:{c.type}", group, group, c.timespan_ms)
        for c in self.jvm_sliding:
            cond = c.condition
            details = {"type": c.type, "condition": dict(cond.ops), "timespan_ms": c.timespan_ms}
            out[c.id] = MatchSpec(c.id, c.title, c.level, f"sigma:{c.type}", list(c.group_by),
                                  list(c.group_by) or ["all"], c.timespan_ms, details)
        for r in self.jvm_risks:
            out[r.id] = MatchSpec(r.id, r.title, r.level, RISK_KIND, r.group_by, r.group_by, r.window_ms,
                                  rule_facts(r))
        return out

    def longest_window_ms(self) -> int:
        """The longest time any rule correlates over: what an upgrade reads again."""
        rules = self.ruleset
        windows = [r.within_ms for r in [*rules.sequences, *rules.progressions]]
        windows += [c.timespan_ms for c in rules.correlations]
        windows += [r.window_ms for r in rules.risks]
        return max(windows, default=0)

    def explain(self) -> list[RulePath]:
        return list(self.paths)
