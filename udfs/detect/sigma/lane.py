"""One lane: the rules that apply to one kind of event, read through one field pipeline.

Cost per event does not grow with the number of rules, because a lane evaluates only candidates:

1. the event's values are dumped as JSON (one C call; see ``literals``);
2. one multi-pattern pass (``literals``: an RE2 set, or Aho-Corasick) finds every indexed
   literal in it;
3. each rule is indexed under the literals of one *anchor* clause (its cheapest necessary literal
   set); rules whose anchor literal occurred are candidates;
4. a candidate's other necessary clauses are checked against the literals found (set operations);
5. only then is its compiled condition evaluated.

Rules with no necessary literal at all (only negations, null checks, numeric comparisons) are
evaluated on every event of the lane.

Which clause is cheapest depends on the traffic: ``Channel: Security`` is in every event of the
Security lane, ``EventID: 1102`` in few. A lane starts from a static guess (longer literals are
rarer), counts how often each literal occurs over learning windows (its first 200 events, the 2,000
after, again at 100k and 1M events), and after each re-picks anchors and check order from the counts.
This changes only the cost of matching, never its result: every necessary clause is still necessary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from udfs.detect.sigma.compile import AllOf, CostFn, Lits, OneOf, Pred, Req, clauses, static_cost
from udfs.detect.sigma.fields import Pipeline, fallback_json, leaves, texts_of
from udfs.detect.sigma.literals import Finder, json_variants, literal_finder

MAX_CHECK_CLAUSES = 6  # beyond a few, checks cost more than the evaluation they would save
LEARN_EVENTS = 1000
# Learning windows (start, length) in lane events: a quick first estimate, then a steady one, then
# refreshes in case the traffic mix changed.
LEARN_WINDOWS = ((0, 200), (201, LEARN_EVENTS), (100_000, LEARN_EVENTS), (1_000_000, LEARN_EVENTS))
# A clause expected in more than half the events selects nothing: a rule whose cheapest clause is that
# common is evaluated on every event instead, and its literals stay out of the automaton (each match
# of a common literal costs a Python iteration). Checks that would pass most of the time are dropped.
ALWAYS_ABOVE = 0.5
CHECK_BELOW = 0.25


@dataclass
class LaneRule:
    """What a lane needs of a compiled rule (the engine keeps the rest)."""

    index: int  # the engine's rule number: hits come out in this order
    pred: Pred
    requirement: Req | None
    filters: list[Pred] = field(default_factory=list)
    fields: frozenset[str] = frozenset()
    keywords: bool = False


@dataclass
class LaneStats:
    events: int = 0
    candidates: int = 0
    evaluated: int = 0
    matched: int = 0
    filtered: int = 0
    retunes: int = 0


def _req_literals(req: Req | None, out: set[str]) -> set[str]:
    if isinstance(req, Lits):
        out |= req.literals
    elif isinstance(req, AllOf | OneOf):
        for child in req.children:
            _req_literals(child, out)
    return out


class Lane:
    def __init__(self, pipeline: Pipeline, rules: list[LaneRule], learn: bool = True, engine: str = "re2") -> None:
        self.pipeline = pipeline
        self.rules = sorted(rules, key=lambda r: r.index)
        self.indexes = frozenset(r.index for r in self.rules)
        self.stats = LaneStats()
        self.has_keywords = any(r.keywords for r in self.rules)
        self.engine = engine
        fields = sorted({f for r in self.rules for f in r.fields})
        self.fields = tuple(fields)
        self.field_set = frozenset(fields)
        self.special: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {}
        for fname in fields:
            acc = pipeline.special(fname)
            if acc is not None:
                self.special[fname] = acc
        all_literals = sorted(_req_literals(r.requirement, set()) for r in self.rules)
        self.literal_ids: dict[str, int] = {}
        for lits in all_literals:
            for lit in sorted(lits):
                self.literal_ids.setdefault(lit, len(self.literal_ids))
        self.windows = {start: length for start, length in LEARN_WINDOWS} if learn else {}
        self._counts: list[int] | None = None
        self._learn_left = 0
        self._learned = 0
        self._seen = 0  # events since the lane was built (stats may be reset by callers)
        self._static = {lit: static_cost(lit) for lit in self.literal_ids}
        self._form_cache: dict[str, list[str]] = {}
        self._plain_flat = pipeline.flat and not self.special
        self._build_index(self._static.__getitem__, learning=0 in self.windows)

    # -- index ---------------------------------------------------------------------------------

    def _build_index(self, cost: CostFn, learning: bool) -> None:
        ids = self.literal_ids
        anchored: dict[int, list[int]] = {}
        always: list[int] = []
        checks: list[tuple[frozenset[int], ...]] = []
        used: set[int] = set()
        for pos, rule in enumerate(self.rules):
            if rule.requirement is None:
                always.append(pos)
                checks.append(())
                continue
            options = sorted(clauses(rule.requirement, cost), key=lambda c: (c[0], len(c[1])))
            if options[0][0] > ALWAYS_ABOVE:
                always.append(pos)
                checks.append(())
                continue
            for lit in options[0][1]:
                anchored.setdefault(ids[lit], []).append(pos)
            # Cheapest first: the clause least likely to be present fails the candidate soonest.
            kept = [lits for c, lits in options[1:] if c < CHECK_BELOW][:MAX_CHECK_CLAUSES]
            checks.append(tuple(frozenset(ids[lit] for lit in lits) for lits in kept))
            used.update(ids[lit] for lits in [options[0][1], *kept] for lit in lits)
        self.always = tuple(always)
        self.checks = checks
        # While learning, every literal is searched for so that it can be counted; afterwards only
        # the literals anchors and checks use.
        wanted = set(ids.values()) if learning else used
        self.literal_count = len(wanted)
        self.finder: Finder | None
        self.finder, self.text_ids, self.finder_engine = literal_finder(
            sorted((lid, form) for lit, lid in ids.items() if lid in wanted for form in self._forms(lit)), self.engine
        )
        # Per text the finder reports: the rules anchored on any literal it stands for.
        self.anchored: list[tuple[int, ...]] = [
            tuple(sorted({pos for lid in lids for pos in anchored.get(lid, ())})) for lids in self.text_ids
        ]
        if learning:
            self._counts = [0] * len(ids)
            self._learned = self._learn_left = self.windows.get(self._seen, LEARN_EVENTS)
        else:
            self._counts = None

    def _forms(self, lit: str) -> list[str]:
        forms = self._form_cache.get(lit)
        if forms is None:
            forms = self._form_cache[lit] = json_variants(lit, anchored=True, nested=not self.pipeline.flat)
        return forms

    def _retune(self) -> None:
        counts, n = self._counts or [], float(self._learned)
        # The static guess acts as a half pseudo-count: it only orders literals never seen.
        static = self._static
        by_literal = {lit: (counts[lid] + 0.5 * static[lit]) / (n + 1.0) for lit, lid in self.literal_ids.items()}
        self._build_index(by_literal.__getitem__, learning=False)
        self.stats.retunes += 1

    # -- per event -----------------------------------------------------------------------------

    def getter(self, record: dict[str, Any], orig: dict[str, Any]) -> Callable[[str], Any]:
        special = self.special
        oget = orig.get
        if self.pipeline.flat:
            # Windows: a rule field is one key of the flat vendor document.
            if not special:
                return oget

            def flat_special(fname: str) -> Any:
                acc = special.get(fname)
                return oget(fname) if acc is None else acc(record, orig)

            return flat_special

        def nested(fname: str) -> Any:
            acc = special.get(fname)
            return oget(fname) if acc is None else acc(record, orig)

        return nested

    def view(self, orig: dict[str, Any]) -> dict[str, Any]:
        """What a flat lane's rules read: the vendor fields minus nested objects (Winlogbeat's
        ``winlog`` / ``host`` / ``event``), which are no Sysmon or Security field."""
        if self.pipeline.flat and dict in set(map(type, orig.values())):
            return {k: v for k, v in orig.items() if type(v) is not dict}
        return orig

    def haystack(self, record: dict[str, Any], orig: dict[str, Any]) -> bytes:
        """The bytes the literals are searched in: every value a rule of the lane can read, as JSON
        (see ``literals``). Lower-cased only when not ASCII (the finders ignore case).

        Flat lanes (Windows, Zeek) dump the flat vendor document's values as one JSON array, plus
        the fields their pipeline reads elsewhere (ECS); extra text (nested objects no rule reads)
        can only add candidates, never lose one. Vendor-JSON lanes dump the whole event, keys
        sorted, so that a nested object's text is the same as a rule reading it sees.
        """
        if self.pipeline.flat:
            extra = [acc(record, orig) for acc in self.special.values()]
            values = [*orig.values(), *extra]
            try:
                data = orjson.dumps(values)
            except TypeError:
                data = fallback_json(values)
        else:
            try:
                data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
            except TypeError:
                data = fallback_json(record)
        return data if data.isascii() else data.decode().lower().encode()

    def texts(self, orig: dict[str, Any]) -> Callable[[], list[str]]:
        memo: list[list[str]] = []

        def texts() -> list[str]:
            if not memo:
                if self.pipeline.flat:
                    memo.append([t for v in orig.values() for t in texts_of(v)])
                else:
                    memo.append(list(leaves(orig)))
            return memo[0]

        return texts

    def match(self, record: dict[str, Any], orig: dict[str, Any]) -> list[int]:
        """Indexes (engine numbering) of the rules that match, in that order."""
        stats = self.stats
        stats.events += 1
        self._seen += 1
        finder = self.finder
        if finder is None:
            found: Any = ()
        elif self._plain_flat:
            # haystack() inlined for the common case (a flat lane without ECS fields): one call less.
            try:
                data = orjson.dumps(list(orig.values()))
            except TypeError:
                data = fallback_json(list(orig.values()))
            found = finder(data if data.isascii() else data.decode().lower().encode()) or ()
        else:
            found = finder(self.haystack(record, orig)) or ()
        counts = self._counts
        if counts is not None:
            for lid in {lid for number in found for lid in self.text_ids[number]}:
                counts[lid] += 1
            self._learn_left -= 1
        candidates: set[int] | None = set(self.always) if self.always else None
        anchored = self.anchored
        for number in found:
            positions = anchored[number]
            if positions:
                if candidates is None:
                    candidates = set(positions)
                else:
                    candidates.update(positions)
        if candidates is None:
            if counts is not None or self._seen in self.windows:
                self._maintain()
            return []
        stats.candidates += len(candidates)
        matched: list[int] = []
        orig = self.view(orig)
        get = self.getter(record, orig)
        texts = self.texts(orig)
        rules, checks = self.rules, self.checks
        hits: set[int] | None = None
        for pos in sorted(candidates):
            needs = checks[pos]
            if needs:
                if hits is None:
                    text_ids = self.text_ids
                    hits = {lid for number in found for lid in text_ids[number]}
                if any(need.isdisjoint(hits) for need in needs):
                    continue
            rule = rules[pos]
            stats.evaluated += 1
            if not rule.pred(get, texts):
                continue
            if rule.filters and any(not keep(get, texts) for keep in rule.filters):
                stats.filtered += 1
                continue
            stats.matched += 1
            matched.append(rule.index)
        if counts is not None or self._seen in self.windows:
            self._maintain()
        return matched

    def stop_learning(self) -> None:
        """Keep the current anchors from now on (re-picked once from the counts so far, if any)."""
        if self._counts is not None:
            self._learned = max(1, self._learned - self._learn_left)
            self._retune()
        self.windows = {}

    @property
    def learning(self) -> bool:
        """True while literal counts are being collected (the index may still change)."""
        return self._counts is not None or any(start > self._seen for start in self.windows if start < 100_000)

    def _maintain(self) -> None:
        # Index changes happen between events only: an event is matched against one consistent index.
        if self._counts is not None:
            if self._learn_left <= 0:
                self._retune()
        elif self._seen in self.windows:
            self._build_index(self._static.__getitem__, learning=True)
