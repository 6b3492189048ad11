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
rarer), counts how often each *searched* literal occurs over learning windows (its first 200 events,
the 1,000 after, again at 100k and 1M events), and after each re-picks anchors and check order from
the counts. The lane is built whole when the engine loads (its RE2 set compiled then, with the
literals learning may pick from); re-picking is Python work between events, and once no window is
due for a while a small RE2 set of just the chosen literals takes over (see ``Lane.__init__``).
This changes only the cost of matching, never its result: every necessary clause is still necessary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from udfs.detect.sigma.compile import AllOf, Lits, OneOf, Pred, Req, static_cost
from udfs.detect.sigma.fields import Pipeline, fallback_json, leaves, texts_of
from udfs.detect.sigma.literals import Finder, json_variants, literal_finder

MAX_CHECK_CLAUSES = 6  # beyond a few, checks cost more than the evaluation they would save
SPARE_CLAUSES = 1  # fallback clauses searched per rule, so that learning can move its anchor
LEARN_EVENTS = 1000
# Learning windows (start, length) in lane events: a quick first estimate, then a steady one, then
# refreshes in case the traffic mix changed.
LEARN_WINDOWS = ((0, 200), (201, LEARN_EVENTS), (100_000, LEARN_EVENTS), (1_000_000, LEARN_EVENTS))
# A clause expected in more than half the events selects nothing: a rule whose cheapest clause is that
# common is evaluated on every event instead, and once settled its literals stay out of the automaton
# (each match of a common literal costs a Python iteration). Checks that would pass most of the time
# are dropped.
ALWAYS_ABOVE = 0.5
CHECK_BELOW = 0.25
# Clauses searched for (and counted while learning) even when the static guess calls them too common to
# anchor on: the guess is pessimistic about event ids (``EventID: 4768 or 4769``), which traffic
# usually shows to be rare. Past this expected count the guess is trusted.
SEARCH_ABOVE = 2.0
# A lane switches to a finder of just its index's literals after re-indexing when no learning window
# starts within this many events (so after its first 1,200 events, not after its first 200).
SETTLE_EVENTS = 10_000
_MAX_FILTERED = 64  # filtered matches kept per event (Lane.filtered)


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


# A requirement (``compile.Req``) with literal ids for literals, for fast re-indexing: a frozenset of ids
# stands for ``Lits``, ``(True, children)`` for ``AllOf``, ``(False, children)`` for ``OneOf``.
IdReq = frozenset[int] | tuple[bool, tuple[Any, ...]]


def _ids_of(req: Req | None, ids: dict[str, int]) -> IdReq | None:
    if req is None:
        return None
    if isinstance(req, Lits):
        return frozenset(ids[lit] for lit in req.literals)
    children = tuple(_ids_of(child, ids) for child in req.children)
    return (isinstance(req, AllOf), children)


def _id_clauses(req: IdReq, cost: list[float]) -> list[tuple[float, frozenset[int]]]:
    """Necessary clauses of a requirement, each with its expected cost (the sum of its literals').

    ``AllOf`` keeps every child's clauses (all are necessary). ``OneOf`` picks the cheapest clause of
    each branch and unites them into one (one of them must occur)."""
    if type(req) is frozenset:
        return [(sum(cost[lid] for lid in req), req)]
    every, children = req  # type: ignore[misc]
    if every:
        return [c for child in children for c in _id_clauses(child, cost)]
    picks = [min(_id_clauses(child, cost), key=_by_cost) for child in children]
    union: frozenset[int] = frozenset().union(*(lids for _, lids in picks))
    return [(sum(cost[lid] for lid in union), union)]


def _by_cost(item: tuple[float, frozenset[int]]) -> tuple[float, int]:
    return item[0], len(item[1])


def _req_literals(req: Req | None, out: set[str]) -> set[str]:
    if isinstance(req, Lits):
        out |= req.literals
    elif isinstance(req, AllOf | OneOf):
        for child in req.children:
            _req_literals(child, out)
    return out


BuiltFinder = tuple[Finder | None, list[tuple[int, ...]], str]  # what ``literal_finder`` returns


class LiteralCache:
    """What lanes of one engine share: a literal's JSON forms and static cost, and built finders.

    Lanes overlap (Security 4688 reads the process_creation rules through two pipelines, every Windows
    lane holds the product-wide rules): each literal is prepared once, and lanes with the same
    numbered literal forms share one search finder (one RE2 set, whose automaton warms up once).
    """

    def __init__(self) -> None:
        self.costs: dict[str, float] = {}
        self.forms: dict[tuple[str, bool], list[str]] = {}
        self.finders: dict[tuple[tuple[tuple[int, str], ...], str], BuiltFinder] = {}

    def cost(self, lit: str) -> float:
        cost = self.costs.get(lit)
        if cost is None:
            cost = self.costs[lit] = static_cost(lit)
        return cost

    def forms_of(self, lit: str, nested: bool) -> list[str]:
        forms = self.forms.get((lit, nested))
        if forms is None:
            forms = self.forms[(lit, nested)] = json_variants(lit, anchored=True, nested=nested)
        return forms

    def finder(self, literals: list[tuple[int, str]], engine: str) -> BuiltFinder:
        key = (tuple(literals), engine)
        built = self.finders.get(key)
        if built is None:
            built = self.finders[key] = literal_finder(literals, engine)
        return built


class Lane:
    def __init__(
        self,
        pipeline: Pipeline,
        rules: list[LaneRule],
        learn: bool = True,
        engine: str = "re2",
        cache: LiteralCache | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.rules = sorted(rules, key=lambda r: r.index)
        self.indexes = frozenset(r.index for r in self.rules)
        self.stats = LaneStats()
        # (rule index, filter position) of matches a Sigma filter took: the engine shares one list
        # among its lanes and hands them on as suppressed, never silently dropped (udfs.suppress).
        self.filtered: list[tuple[int, int]] = []
        self.has_keywords = any(r.keywords for r in self.rules)
        self.engine = engine
        cache = cache or LiteralCache()
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
        self._static = [cache.cost(lit) for lit in self.literal_ids]  # by literal id: the guess
        self._reqs = [_ids_of(r.requirement, self.literal_ids) for r in self.rules]
        # Two finders. The *search* finder, built here once, holds the literals the index can ever
        # use, chosen from the static guess (each rule's cheapest clauses and a fallback): it runs
        # until the lane has learned, and during learning windows, where its counts let anchors move.
        # Not every literal: RE2 builds its automaton lazily, state by state, and each literal found
        # adds to the states new text needs; all ~12.7k literals of the process_creation rules cost
        # ~3x more on a first pass over real events than this subset. Once learning has settled
        # (no window due for ``SETTLE_EVENTS``), a small *index* finder of just the anchors and
        # checks picked replaces it (a rule no searched clause selects may then anchor on another
        # clause, see ``_build_index``): 1.1 literals found per event instead of 3 on the samples,
        # ~15% less per event in the steady state. Re-picking itself is Python work on the index
        # (~12 ms for the largest lane), compiling the small finder a few ms; both between events.
        self.searched = self._searchable(list(self._static))
        self._nested = not self.pipeline.flat
        self._forms = cache.forms_of
        self._search = cache.finder(self._literal_forms(self.searched), engine)
        self.finder: Finder | None
        self.finder, self.text_ids, self.finder_engine = self._search
        self.literal_count = len(self.searched)
        self._anchor_of: dict[int, list[int]] = {}
        self.used: frozenset[int] = frozenset()  # literal ids the current index anchors or checks on
        self.windows = {start: length for start, length in LEARN_WINDOWS} if learn else {}
        self._counts: list[int] | None = None
        self._learn_left = 0
        self._learned = 0
        self._seen = 0  # events since the lane was built (stats may be reset by callers)
        self._plain_flat = pipeline.flat and not self.special
        self._build_index(self._static)
        if 0 in self.windows:
            self._start_window()

    # -- index ---------------------------------------------------------------------------------

    def _options(self, pos: int, cost: list[float]) -> list[tuple[float, frozenset[int]]]:
        """Rule ``pos``'s necessary clauses as literal ids, cheapest first (none without requirement)."""
        req = self._reqs[pos]
        if req is None:
            return []
        return sorted(_id_clauses(req, cost), key=_by_cost)

    def _searchable(self, cost: list[float]) -> frozenset[int]:
        """The literals worth searching: per rule, the clauses of its static index (anchor and checks)
        and ``SPARE_CLAUSES`` fallbacks, each the cheapest clause left once the literals picked before
        it are taken to be in every event: what learning would anchor on if traffic shows that."""
        wanted: set[int] = set()
        for pos in range(len(self.rules)):
            options = self._options(pos, cost)
            if not options or options[0][0] > SEARCH_ABOVE:
                continue
            for _, lids in [options[0], *[o for o in options[1:] if o[0] < CHECK_BELOW][:MAX_CHECK_CLAUSES]]:
                wanted |= lids
            common: dict[int, float] = {}  # literal id -> its cost, while taken to be common
            best = options[0][1]
            try:
                for _ in range(SPARE_CLAUSES):
                    for lid in best:
                        common.setdefault(lid, cost[lid])
                        cost[lid] = 1.0
                    spare = self._options(pos, cost)[0]
                    if spare[0] > SEARCH_ABOVE:
                        break
                    best = spare[1]
                    wanted |= best
            finally:
                for lid, was in common.items():
                    cost[lid] = was
        return frozenset(wanted)

    def _build_index(self, cost: list[float], settled: bool = False) -> None:
        """Anchors, checks and always-evaluated rules for literal costs ``cost`` (by literal id).

        Only clauses of searched literals can select or reject a rule while the search finder runs.
        ``settled``: a finder of the index's own literals follows, so a rule that no searched clause
        selects (all common on this traffic) may anchor on another clause, on the static guess:
        at worst it is a candidate as often as it would be evaluated anyway."""
        self._cost = cost
        searched = self.searched
        anchored: dict[int, list[int]] = {}
        always: list[int] = []
        checks: list[tuple[frozenset[int], ...]] = []
        for pos in range(len(self.rules)):
            everything = self._options(pos, cost)
            options = [o for o in everything if o[1] <= searched]
            if settled and (not options or options[0][0] > ALWAYS_ABOVE):
                options = everything
            if not options or options[0][0] > ALWAYS_ABOVE:
                always.append(pos)
                checks.append(())
                continue
            for lid in options[0][1]:
                anchored.setdefault(lid, []).append(pos)
            # Cheapest first: the clause least likely to be present fails the candidate soonest.
            kept = [lids for c, lids in options[1:] if c < CHECK_BELOW][:MAX_CHECK_CLAUSES]
            checks.append(tuple(kept))
        self.always = tuple(always)
        self.checks = checks
        self._anchor_of = anchored
        self.used = frozenset(anchored).union(*(need for needs in checks for need in needs))
        self._remap()

    def _remap(self) -> None:
        # Per text the current finder reports: the rules anchored on any literal it stands for.
        anchored = self._anchor_of
        self.anchored: list[tuple[int, ...]] = [
            tuple(sorted({pos for lid in lids for pos in anchored.get(lid, ())})) for lids in self.text_ids
        ]

    def _literal_forms(self, lids: frozenset[int]) -> list[tuple[int, str]]:
        nested, forms = self._nested, self._forms
        ids = self.literal_ids
        return sorted((lid, form) for lit, lid in ids.items() if lid in lids for form in forms(lit, nested))

    def _use(self, built: BuiltFinder) -> None:
        self.finder, self.text_ids, self.finder_engine = built
        self._remap()

    def _settle(self, cost: list[float]) -> None:
        """Learning is done for a while: search only what the index uses (a finder of its own)."""
        self._build_index(cost, settled=True)
        self._use(literal_finder(self._literal_forms(self.used), self.engine))
        self.literal_count = len(self.used)

    def _start_window(self) -> None:
        if self.finder is not self._search[0]:
            # Counting needs every searchable literal; and the settled index may anchor on literals
            # the search finder does not hold: re-indexed on searched clauses only, same costs.
            self.finder, self.text_ids, self.finder_engine = self._search
            self.literal_count = len(self.searched)
            self._build_index(self._cost)
        self._counts = [0] * len(self.literal_ids)
        self._learned = self._learn_left = self.windows.get(self._seen, LEARN_EVENTS)

    def _retune(self) -> None:
        counts, n = self._counts or [], float(self._learned)
        # The static guess acts as a half pseudo-count: it only orders literals never seen. Literals the
        # finder does not search keep their guess (they are never anchors or checks anyway).
        searched = self.searched
        cost = [
            (counts[lid] + 0.5 * guess) / (n + 1.0) if lid in searched else guess
            for lid, guess in enumerate(self._static)
        ]
        self._counts = None
        self.stats.retunes += 1
        if any(self._seen < start <= self._seen + SETTLE_EVENTS for start in self.windows):
            self._build_index(cost)  # another window is due soon: keep searching every searchable literal
        else:
            self._settle(cost)

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
            if rule.filters:
                taken = next((n for n, keep in enumerate(rule.filters) if not keep(get, texts)), None)
                if taken is not None:
                    stats.filtered += 1
                    if len(self.filtered) < _MAX_FILTERED:  # bounded for callers that never drain it
                        self.filtered.append((rule.index, taken))
                    continue
            stats.matched += 1
            matched.append(rule.index)
        if counts is not None or self._seen in self.windows:
            self._maintain()
        return matched

    def stop_learning(self) -> None:
        """Keep the current anchors from now on (re-picked once from the counts so far, if any)."""
        self.windows = {}
        if self._counts is not None:
            self._learned = max(1, self._learned - self._learn_left)
            self._retune()

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
            self._start_window()
