"""The Sigma engine: parsed rules compiled once, events routed to lanes, partial hits out.

``SigmaEngine.match(event)`` is the ``Matcher`` the detector plugs in. The lanes of every log source
the routing tables know are built when the rules load (``build_lanes``), so that no event waits for
one; routing is cached per route key (``routing.route_key``), so the per-event work is: one key,
one dict lookup, one multi-literal pass per lane (usually one lane), and the evaluation of a
handful of candidates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from udfs.detect.catalog import Catalog, default_catalog
from udfs.detect.sigma.compile import (
    CompileContext,
    Compiled,
    NeedsPlaceholder,
    Pred,
    compile_condition,
)
from udfs.detect.sigma.ir import FilterIR, LogSource, RuleIR, fields_of, has_keywords
from udfs.detect.sigma.lane import Lane, LaneRule, LiteralCache
from udfs.detect.sigma.loader import RuleSet
from udfs.detect.sigma.memory import long_lived
from udfs.detect.sigma.parse import RuleProblem, locate_field, locate_text
from udfs.detect.sigma.routing import EventSource, describe, known_keys, pipeline, route_key
from udfs.detect.sigma.tags import RuleAttack, resolve_tags
from udfs.detect.sigma.values import ValueCompileError


@dataclass
class CompiledRule:
    index: int
    ir: RuleIR
    compiled: Compiled
    attack: RuleAttack
    filters: list[tuple[FilterIR, Pred]] = field(default_factory=list)
    static: dict[str, Any] = field(default_factory=dict)  # the parts of a partial hit that never change


@dataclass
class EngineReport:
    """What ``ttpflow rules check`` prints: counts, and every reason."""

    files: int = 0
    loaded: int = 0
    unsupported: list[RuleProblem] = field(default_factory=list)
    disabled: list[RuleProblem] = field(default_factory=list)  # need placeholder values
    skipped: list[RuleProblem] = field(default_factory=list)
    warnings: list[RuleProblem] = field(default_factory=list)
    regex_fallbacks: list[RuleProblem] = field(default_factory=list)
    filters: int = 0
    parse_seconds: float = 0.0
    compile_seconds: float = 0.0
    lanes_seconds: float = 0.0  # building the lanes of every known log source (eager engines)
    cached_files: int = 0

    @property
    def total(self) -> int:
        return self.loaded + len(self.unsupported) + len(self.disabled)

    def unsupported_by_reason(self) -> Counter[str]:
        return Counter(_reason_key(p) for p in self.unsupported)


def _reason_key(problem: RuleProblem) -> str:
    return f"{problem.reason}: {problem.message.split(':', 1)[0][:80]}"


class SigmaEngine:
    """Compiled Sigma rules; ``match(event)`` yields partial hits (see ``udfs.detect.detector``)."""

    def __init__(
        self,
        ruleset: RuleSet,
        catalog: Catalog | None = None,
        placeholders: dict[str, list[str]] | None = None,
        learn: bool = True,
        literal_engine: str = "re2",
        eager: bool = True,
    ) -> None:
        """``learn``: let lanes re-pick prefilter anchors from traffic (see ``lane``);
        ``literal_engine``: "re2" (default) or "aho-corasick" for the multi-literal search;
        ``eager``: build the lanes of every known log source now (``build_lanes``), not on the first
        event of each kind (the result is the same; only when the cost is paid differs)."""
        started = time.perf_counter()
        self.catalog = catalog or default_catalog()
        self.report = EngineReport(
            files=ruleset.files,
            skipped=list(ruleset.skipped),
            parse_seconds=ruleset.seconds,
            cached_files=ruleset.cached_files,
            filters=len(ruleset.filters),
        )
        self.report.unsupported.extend(ruleset.problems)
        self.rules: list[CompiledRule] = []
        self._routes: dict[tuple[Any, ...], list[Lane]] = {}
        self._by_sources: dict[tuple[EventSource, ...], list[Lane]] = {}
        self._lane_cache: dict[Any, Lane] = {}
        self._lane_rules: dict[int, LaneRule] = {}
        self._literals = LiteralCache()
        self.filtered: list[tuple[int, int]] = []  # shared by every lane: see Lane.filtered
        self.learn = learn
        self.literal_engine = literal_engine
        with long_lived():
            ctx = CompileContext(placeholders=dict(placeholders or {}))
            seen_ids: dict[str, str] = {}
            for ir in ruleset.rules:
                self._compile_rule(ir, ctx, seen_ids)
            self._attach_filters(ruleset.filters, ctx)
            self.report.loaded = len(self.rules)
            self._by_logsource: dict[LogSource, list[CompiledRule]] = {}
            for rule in self.rules:
                self._by_logsource.setdefault(rule.ir.logsource, []).append(rule)
            self.report.compile_seconds = time.perf_counter() - started
            if eager:
                lanes_started = time.perf_counter()
                self.build_lanes()
                self.report.lanes_seconds = time.perf_counter() - lanes_started

    # -- building ------------------------------------------------------------------------------

    def _compile_rule(self, ir: RuleIR, ctx: CompileContext, seen_ids: dict[str, str]) -> None:
        regex_mark = len(ctx.regexes)
        try:
            compiled = compile_condition(ir.condition, ctx)
        except NeedsPlaceholder as exc:
            self.report.disabled.append(
                RuleProblem(
                    ir.path,
                    None,
                    None,
                    "placeholder",
                    f"needs placeholder values for %{', %'.join(sorted(exc.names))}% (--placeholders FILE)",
                    ir.rule_id,
                )
            )
            return
        except (ValueCompileError, ValueError) as exc:
            field = getattr(exc, "field", None)
            line = locate_field(ir.path, field)
            self.report.unsupported.append(RuleProblem(ir.path, line, field, "unsupported", str(exc), ir.rule_id))
            return
        for regex in ctx.regexes[regex_mark:]:
            if regex.engine != "re2":
                self.report.regex_fallbacks.append(
                    RuleProblem(
                        ir.path,
                        None,
                        None,
                        "regex_fallback",
                        f"regex {regex.pattern!r} runs on Python re (RE2: {regex.fallback_reason}); input capped",
                        ir.rule_id,
                    )
                )
        if ir.rule_id in seen_ids:
            self.report.warnings.append(
                RuleProblem(
                    ir.path,
                    None,
                    None,
                    "duplicate_id",
                    f"rule id {ir.rule_id} also in {seen_ids[ir.rule_id]}",
                    ir.rule_id,
                )
            )
        seen_ids.setdefault(ir.rule_id, ir.path)
        attack = resolve_tags(ir.tags, self.catalog)
        for warning in attack.warnings:
            token = warning.split(":", 1)[0].split()[-1].lower()  # "T1686.002: ..." / "tactic x: ..."
            line = locate_text(ir.path, token)
            self.report.warnings.append(RuleProblem(ir.path, line, "tags", "attack_tag", warning, ir.rule_id))
        rule = CompiledRule(len(self.rules), ir, compiled, attack)
        rule.static = {
            "rule_id": ir.rule_id,
            "rule_title": ir.title,
            "level": ir.level if ir.level in _LEVELS else "medium",
            "status": ir.status,
            "techniques": list(attack.techniques),
            "tactics": list(attack.tactics),
            "rule_techniques": list(attack.tagged_techniques),
            "tags": list(ir.tags),
        }
        self.rules.append(rule)

    def _attach_filters(self, filters: list[FilterIR], ctx: CompileContext) -> None:
        for sfilter in filters:
            try:
                compiled = compile_condition(sfilter.condition, ctx)
            except (NeedsPlaceholder, ValueCompileError, ValueError) as exc:
                self.report.unsupported.append(
                    RuleProblem(sfilter.path, None, None, "filter", str(exc), sfilter.filter_id)
                )
                continue
            refs = set(sfilter.rules) if sfilter.rules is not None else None
            applied = 0
            for rule in self.rules:
                if not sfilter.logsource.covers(rule.ir.logsource):
                    continue
                if refs is not None and not refs & {rule.ir.rule_id, rule.ir.name, rule.ir.title}:
                    continue
                rule.filters.append((sfilter, compiled.pred))
                applied += 1
            if applied == 0:
                self.report.warnings.append(
                    RuleProblem(
                        sfilter.path, None, None, "filter_unused", "filter applies to no loaded rule", sfilter.filter_id
                    )
                )

    def build_lanes(self) -> int:
        """Build the lanes of every route the routing tables know (``routing.known_keys``); returns
        how many lanes exist. Events of other kinds still route: their lanes are built on first use."""
        zeek = {r.ir.logsource.service for r in self.rules if r.ir.logsource.product == "zeek"}
        for key in known_keys(sorted(s for s in zeek if s)):
            self.lanes_for(key)
        return len(self._lane_cache)

    def lanes_for(self, key: tuple[Any, ...]) -> list[Lane]:
        lanes = self._routes.get(key)
        if lanes is None:
            # Many route keys share their log sources (every Security event id without a category of
            # its own): the lanes are looked up by sources, so a new key costs one describe().
            sources = tuple(describe(key))
            lanes = self._by_sources.get(sources)
            if lanes is None:
                lanes = []
                taken: set[int] = set()
                for source in sources:
                    lane = self._lane(source, taken)
                    if lane is not None:
                        lanes.append(lane)
                self._by_sources[sources] = lanes
            if len(self._routes) < MAX_ROUTES:  # keys come from event values: bounded, not trusted
                self._routes[key] = lanes
        return lanes

    def _lane(self, source: EventSource, taken: set[int]) -> Lane | None:
        # A rule sits in the first lane of an event that accepts it: an event never hits a rule twice.
        groups = [group for logsource, group in self._by_logsource.items() if source.accepts(logsource)]
        rules = sorted((r for group in groups for r in group if r.index not in taken), key=lambda r: r.index)
        taken.update(r.index for r in rules)
        if not rules:
            return None
        # A lane depends on its rules and pipeline only: sources accepting the same rules share it.
        cache_key = (source.pipeline, tuple(r.index for r in rules))
        if cache_key in self._lane_cache:
            return self._lane_cache[cache_key]
        lane_rules = [self._lane_rule(r) for r in rules]
        lane = Lane(
            pipeline(source.pipeline), lane_rules, learn=self.learn, engine=self.literal_engine, cache=self._literals
        )
        lane.filtered = self.filtered
        self._lane_cache[cache_key] = lane
        return lane

    def _lane_rule(self, rule: CompiledRule) -> LaneRule:
        # One per rule, shared by its lanes (every Windows lane holds the product-wide rules).
        made = self._lane_rules.get(rule.index)
        if made is None:
            conditions = [rule.ir.condition, *(f.condition for f, _ in rule.filters)]
            made = self._lane_rules[rule.index] = LaneRule(
                index=rule.index,
                pred=rule.compiled.pred,
                requirement=rule.compiled.requirement,
                filters=[pred for _, pred in rule.filters],
                fields=frozenset().union(*map(fields_of, conditions)),
                keywords=any(map(has_keywords, conditions)),
            )
        return made

    def lanes(self) -> list[Lane]:
        return list(self._lane_cache.values())

    def stop_learning(self) -> None:
        """Freeze every lane's prefilter anchors (benchmarks: measure a steady state)."""
        self.learn = False
        for lane in self.lanes():
            lane.stop_learning()

    # -- matching ------------------------------------------------------------------------------

    def match_indexes(self, event: dict[str, Any]) -> list[int]:
        """Rule numbers matching ``event`` (the benchmark's entry point: no hit dicts built)."""
        orig = event.get("original") or _EMPTY
        channel = orig.get("Channel")
        if channel is not None:
            # route_key() inlined for Windows, most of the traffic (same key, one call less).
            channel = (event.get("event") or _EMPTY).get("dataset") or channel
            eid = orig.get("EventID")
            key = ("win", channel, eid, orig.get("EventType")) if eid == 12 or eid == "12" else ("win", channel, eid)
        else:
            key = route_key(event)
        lanes = self._routes.get(key)
        if lanes is None:
            lanes = self.lanes_for(key)
        if not lanes:
            return []
        if len(lanes) == 1:
            return lanes[0].match(event, orig)
        found: list[int] = []
        for lane in lanes:
            found.extend(lane.match(event, orig))
        return found

    def match(self, event: dict[str, Any]) -> Iterable[dict[str, Any]]:
        if self.filtered:
            self.filtered.clear()
        indexes = self.match_indexes(event)
        if not indexes:
            return []
        return [self._partial(self.rules[i], event) for i in indexes]

    def filtered_matches(self, event: dict[str, Any]) -> list[tuple[dict[str, Any], FilterIR]]:
        """The matches of the last :meth:`match` that a Sigma filter took: (partial hit, the filter)."""
        return [(self._partial(self.rules[i], event), self.rules[i].filters[n][0]) for i, n in self.filtered]

    def _partial(self, rule: CompiledRule, event: dict[str, Any]) -> dict[str, Any]:
        hit = dict(rule.static)
        hit["matched_fields"] = self.matched_fields(rule, event)
        return hit

    def matched_fields(self, rule: CompiledRule, event: dict[str, Any]) -> list[str]:
        lanes = self.lanes_for(route_key(event))
        lane = next((ln for ln in lanes if rule.index in ln.indexes), None)
        if lane is None:
            return []
        orig = lane.view(event.get("original") or {})
        get, texts = lane.getter(event, orig), lane.texts(orig)
        found: dict[str, None] = {}
        for fname, pred in rule.compiled.positive_fields:
            if fname not in found and pred(get, texts):
                found[fname] = None
        return list(found)


MAX_ROUTES = 65_536  # route keys cached; past that a new key is described again per event (~10 µs)
_LEVELS = ("informational", "low", "medium", "high", "critical")
_EMPTY: dict[str, Any] = {}
