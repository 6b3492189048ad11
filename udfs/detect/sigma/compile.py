"""A rule's condition tree compiled to one Python closure, plus the literals it cannot match without.

A compiled predicate is called as ``pred(get, texts)``: ``get(field)`` returns the event's value for a
Sigma field name (``None`` when absent), ``texts()`` every text value of the event (for keywords).

``requirement`` is the prefilter's input: a small tree saying which literals must occur in the event's
haystack for the condition to hold. ``Lits(set)``: at least one of the set; ``AllOf``: every child;
``AnyOf``: at least one child. ``Not`` and value types without literals (null, exists, numeric
comparisons, cidr, ...) require nothing (``None``), so they can never cause a miss. A lane turns the
tree into literal clauses (``lane._id_clauses``) once it knows how common each literal is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from udfs.detect.sigma.ir import (
    MULTI,
    And,
    AnyOf,
    ExistsValue,
    FieldMatch,
    FieldRefValue,
    Keyword,
    Node,
    Not,
    NullValue,
    Or,
    Placeholder,
    RegexValue,
    StrValue,
    Value,
)
from udfs.detect.sigma.regex import CompiledRegex, compile_regex
from udfs.detect.sigma.values import (
    END,
    START,
    StringSet,
    ValueCompileError,
    compile_scalar,
    expand_placeholders,
    iter_scalars,
    literals,
    to_text,
)
from udfs.errors import TtpflowError

Getter = Callable[[str], Any]
Texts = Callable[[], list[str]]
Pred = Callable[[Getter, Texts], bool]
Clause = frozenset[str]


@dataclass(frozen=True)
class Lits:
    literals: frozenset[str]


@dataclass(frozen=True)
class AllOf:
    children: tuple[Req, ...]


@dataclass(frozen=True)
class OneOf:
    children: tuple[Req, ...]


Req = Lits | AllOf | OneOf


class NeedsPlaceholder(TtpflowError):
    def __init__(self, names: set[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


@dataclass
class CompileContext:
    placeholders: dict[str, list[str]] = field(default_factory=dict)
    regexes: list[CompiledRegex] = field(default_factory=list)


@dataclass
class Compiled:
    pred: Pred
    requirement: Req | None
    positive_fields: list[tuple[str, Pred]]  # for matched_fields: leaves outside any NOT


def compile_condition(node: Node, ctx: CompileContext) -> Compiled:
    leaves: list[tuple[str, Pred]] = []
    pred, req = _node(node, ctx, leaves, negated=False)
    return Compiled(pred, req, leaves)


def _lits(found: list[str | None] | None) -> Req | None:
    if not found or None in found:
        return None
    return Lits(frozenset(found))  # type: ignore[arg-type]


def _all(reqs: list[Req | None]) -> Req | None:
    kept = [r for r in reqs if r is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else AllOf(tuple(kept))


def _any(reqs: list[Req | None]) -> Req | None:
    if not reqs or any(r is None for r in reqs):
        return None
    return reqs[0] if len(reqs) == 1 else OneOf(tuple(reqs))  # type: ignore[arg-type]


# --- nodes ----------------------------------------------------------------------------------------


def _node(node: Node, ctx: CompileContext, leaves: list[tuple[str, Pred]], negated: bool) -> tuple[Pred, Req | None]:
    if isinstance(node, And):
        parts = [_node(child, ctx, leaves, negated) for child in node.children]
        return _and([p for p, _ in parts]), _all([r for _, r in parts])
    if isinstance(node, Or):
        return _or_node(node, ctx, leaves, negated)
    if isinstance(node, Not):
        inner, _ = _node(node.child, ctx, leaves, not negated)
        return (lambda get, texts: not inner(get, texts)), None
    if isinstance(node, FieldMatch):
        try:
            pred, clauses = _field(node.field, node.value, ctx)
        except ValueCompileError as exc:
            raise ValueCompileError(str(exc), exc.field or node.field) from None
        if not negated:
            leaves.append((node.field, pred))
        return pred, clauses
    if isinstance(node, Keyword):
        return _keyword(node.value, ctx)
    raise ValueCompileError(f"condition node {node!r} is not supported")


def _or_node(node: Or, ctx: CompileContext, leaves: list[tuple[str, Pred]], negated: bool) -> tuple[Pred, Req | None]:
    # Plain strings on the same field collapse into one StringSet: one lookup, one lower(), set tests.
    groups: dict[tuple[str, bool], list[StrValue]] = {}
    regexes: dict[tuple[str, str], list[RegexValue]] = {}
    others: list[Node] = []
    for child in node.children:
        if isinstance(child, FieldMatch) and isinstance(child.value, RegexValue) and not child.value.placeholders:
            regexes.setdefault((child.field, child.value.flags), []).append(child.value)
            continue
        strings = _plain_strings(child.value, ctx) if isinstance(child, FieldMatch) else None
        if strings is None:
            others.append(child)
            continue
        for value in strings:
            groups.setdefault((child.field, value.cased), []).append(value)  # type: ignore[union-attr]
    preds: list[Pred] = []
    reqs: list[Req | None] = []
    for (fname, cased), values in groups.items():
        sset = StringSet(values, cased)
        pred = _field_leaf(fname, sset.test, sset.test_text)
        if not negated:
            leaves.append((fname, pred))
        preds.append(pred)
        reqs.append(_lits([lit for v in values for lit in (literals(v) or [None])]))
    for (fname, flags), values in regexes.items():
        pred = _regex_group(fname, flags, values, ctx)
        if not negated:
            leaves.append((fname, pred))
        preds.append(pred)
        reqs.append(_any([_lits(literals(v)) for v in values]))  # type: ignore[arg-type]
    for child in others:
        pred, req = _node(child, ctx, leaves, negated)
        preds.append(pred)
        reqs.append(req)
    return _or(preds), _any(reqs)


def _regex_group(fname: str, flags: str, values: list[RegexValue], ctx: CompileContext) -> Pred:
    """Regexes OR-ed on one field (SigmaHQ lists up to ~20): one RE2 alternation, one call per event."""
    tests = [compile_scalar(v, ctx.regexes) for v in values]  # validates each, reports fallbacks
    if len(values) > 1 and all(r.engine == "re2" for r in ctx.regexes[-len(values) :]):
        combined = compile_regex("|".join(f"(?:{v.pattern})" for v in values), flags)
        if combined.engine == "re2":
            search = combined.search
            return _field_leaf(fname, lambda v: search(v if type(v) is str else to_text(v)), search)
    if len(tests) == 1:
        return _field_leaf(fname, tests[0])
    return _field_leaf(fname, lambda v: any(t(v) for t in tests))


def _plain_strings(value: Value, ctx: CompileContext) -> list[StrValue] | None:
    """The value as a flat list of plain strings (placeholders expanded), or None if it is not one."""
    if isinstance(value, StrValue):
        if any(isinstance(p, Placeholder) for p in value.parts):
            return _expand(value, ctx)
        return [value]
    if isinstance(value, AnyOf):
        out: list[StrValue] = []
        for inner in value.values:
            strings = _plain_strings(inner, ctx)
            if strings is None:
                return None
            out.extend(strings)
        return out
    return None


def _expand(value: StrValue, ctx: CompileContext) -> list[StrValue]:
    names = {p.name for p in value.parts if isinstance(p, Placeholder)}
    missing = {n for n in names if not ctx.placeholders.get(n)}
    if missing:
        raise NeedsPlaceholder(missing)
    return expand_placeholders(value, ctx.placeholders)


# --- leaves ---------------------------------------------------------------------------------------


def _field(fname: str, value: Value, ctx: CompileContext) -> tuple[Pred, Req | None]:
    if isinstance(value, NullValue):
        return (lambda get, texts: _is_null(get(fname))), None
    if isinstance(value, ExistsValue):
        want = value.exists
        return (lambda get, texts: (not _is_null(get(fname))) is want), None
    if isinstance(value, FieldRefValue):
        return _fieldref(fname, value), None
    if isinstance(value, RegexValue) and value.placeholders:
        raise ValueCompileError(f"regex placeholders ({', '.join(value.placeholders)}) are not supported")
    strings = _plain_strings(value, ctx)
    if strings is not None:
        cased = {s.cased for s in strings}
        sets = [StringSet([s for s in strings if s.cased is c], c) for c in cased]
        if len(sets) == 1:
            leaf = _field_leaf(fname, sets[0].test, sets[0].test_text)
        else:
            leaf = _field_leaf(fname, lambda v: any(st.test(v) for st in sets))
        return leaf, _lits([lit for s in strings for lit in (literals(s) or [None])])
    test = compile_scalar(value, ctx.regexes)
    return _field_leaf(fname, test), _lits(literals(value))  # type: ignore[arg-type]


def _is_null(value: Any) -> bool:
    return value is None or value == [] or value == ()


def _field_leaf(fname: str, test: Callable[[Any], bool], text_test: Callable[[str], bool] | None = None) -> Pred:
    if text_test is not None:

        def str_leaf(get: Getter, texts: Texts) -> bool:
            value = get(fname)
            if type(value) is str:  # the common case: no conversion, one call
                return text_test(value)
            if value is None:
                return False
            kind = type(value)
            if kind is list or kind is tuple or kind is dict:
                return any(test(v) for v in iter_scalars(value))
            return test(value)

        return str_leaf

    def leaf(get: Getter, texts: Texts) -> bool:
        value = get(fname)
        if value is None:
            return False
        kind = type(value)
        if kind is str or kind is int:
            return test(value)
        if kind is list or kind is tuple or kind is dict:
            return any(test(v) for v in iter_scalars(value))
        return test(value)

    return leaf


def _fieldref(fname: str, ref: FieldRefValue) -> Pred:
    other, starts, ends = ref.field, ref.starts_with, ref.ends_with

    def leaf(get: Getter, texts: Texts) -> bool:
        mine = [to_text(v).lower() for v in iter_scalars(get(fname))]
        theirs = [to_text(v).lower() for v in iter_scalars(get(other))]
        for a in mine:
            for b in theirs:
                if (starts and a.startswith(b)) or (ends and a.endswith(b)) or (not starts and not ends and a == b):
                    return True
        return False

    return leaf


def _keyword(value: Value, ctx: CompileContext) -> tuple[Pred, Req | None]:
    strings = _plain_strings(value, ctx)
    if strings is not None:
        # A keyword is found anywhere inside any text of the event (full-text search).
        wrapped = [StrValue(_contains(s.parts), s.cased) for s in strings]
        cased = {s.cased for s in wrapped}
        sets = [StringSet([s for s in wrapped if s.cased is c], c) for c in cased]
        req = _lits([lit for s in wrapped for lit in (literals(s, keyword=True) or [None])])

        def kw_strings(get: Getter, texts: Texts) -> bool:
            return any(st.test_text(t) for t in texts() for st in sets)

        return kw_strings, req
    test = compile_scalar(value, ctx.regexes)
    req = _lits(literals(value, keyword=True))  # type: ignore[arg-type]

    def kw_other(get: Getter, texts: Texts) -> bool:
        return any(test(t) for t in texts())

    return kw_other, req


def _contains(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    head = () if parts and parts[0] == MULTI and not isinstance(parts[0], str) else (MULTI,)
    tail = () if parts and parts[-1] == MULTI and not isinstance(parts[-1], str) else (MULTI,)
    return head + parts + tail


# --- boolean combinators --------------------------------------------------------------------------


def _and(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda get, texts: a(get, texts) and b(get, texts)
    if len(preds) == 3:
        a, b, c = preds
        return lambda get, texts: a(get, texts) and b(get, texts) and c(get, texts)
    return lambda get, texts: all(p(get, texts) for p in preds)


def _or(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda get, texts: a(get, texts) or b(get, texts)
    return lambda get, texts: any(p(get, texts) for p in preds)


# --- from requirement to clauses --------------------------------------------------------------------


# Fragments found in most Windows / Linux events: a literal inside one of them selects nothing, so
# the static guess treats it as common (traffic counts correct the guess later, see lane.py).
COMMON_FRAGMENTS = (
    "c:\\windows\\system32\\",
    "c:\\windows\\syswow64\\",
    "c:\\program files (x86)\\",
    "c:\\program files\\",
    "c:\\programdata\\",
    "c:\\users\\",
    "\\appdata\\local\\",
    "\\appdata\\roaming\\",
    "\\microsoft\\windows\\",
    ".exe\x03",
    ".dll\x03",
    '.exe" ',
    "\x02c:\\",
    "\\device\\harddiskvolume",
    "\\registry\\machine\\",
    "hklm\\software\\",
    "\\currentversion\\",
    "nt authority\\",
    "\x02true\x03",
    "\x02false\x03",
    "\x02-\x03",
    "\x02/usr/bin/",
    "\x02/usr/sbin/",
    "\x02/bin/",
    "/usr/lib/",
    "\x02s-1-5-",
    "\x020x0\x03",
    "\x02%%",
)
_FRAGMENTS = "\x00".join(COMMON_FRAGMENTS)


def literal_weight(lit: str) -> float:
    """How rare a literal looks before any event was seen (higher: rarer).

    Its length, with anchors worth half a character and non-ASCII characters (emoji, homoglyphs,
    right-to-left marks) worth four: they are rare in logs. Pure numbers (event ids, ports, status
    codes) occur in nearly every event of their kind, and so do fragments of common paths.
    """
    core = lit.strip(START + END)
    chars = len(core) if core.isascii() else sum(4.0 if ord(c) > 127 else 1.0 for c in core)
    weight = chars + 0.5 * (len(lit) - len(core))
    if core.isdigit():
        weight = min(weight, 3.0)
    if lit in _FRAGMENTS and "\x00" not in lit:  # inside one of COMMON_FRAGMENTS (NUL separates them)
        weight = min(weight, 2.0)
    return weight


def static_cost(lit: str) -> float:
    """A guess at the share of events containing ``lit``: 1 for two characters, /4 per extra one."""
    return min(1.0, 4.0 ** (2.0 - literal_weight(lit)))
