"""Sigma values compiled to tests on one event value, and the literals the prefilter can index.

Semantics (documented in docs/detection.md):
- strings compare case-insensitively unless ``cased``; ``*`` / ``?`` are wildcards over the whole value;
- non-string event values are compared through ``to_text`` (ints as decimal, booleans as true/false);
- numbers compare numerically against numeric event values and exactly against their decimal text;
- a list-valued event field matches if any element matches;
- a missing field (or JSON null) matches only ``null`` and ``exists: false``.

``literals`` returns lower-case strings of which one must occur in an event value whenever the value
can match; ``START`` / ``END`` mark a literal anchored at a value's start / end (``literals``
turns them into the forms the text takes in the event's JSON). ``None`` means no such guarantee.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from udfs.detect.sigma.fields import json_text
from udfs.detect.sigma.ir import (
    MULTI,
    SINGLE,
    AnyOf,
    BoolValue,
    CidrValue,
    CmpValue,
    ExistsValue,
    FieldRefValue,
    NullValue,
    NumValue,
    Placeholder,
    RegexValue,
    StrValue,
    TimePartValue,
    Value,
)
from udfs.detect.sigma.regex import CompiledRegex, compile_regex, glob_to_regex
from udfs.errors import TtpflowError

START, END = "\x02", "\x03"  # a literal's value-start / value-end anchors (see literals.py)
Test = Callable[[Any], bool]  # on one non-null scalar event value


class ValueCompileError(TtpflowError, ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def to_text(value: Any) -> str:
    """The text form of a scalar event value, as rules compare it."""
    if type(value) is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def iter_scalars(value: Any) -> Iterable[Any]:
    """Scalars of an event value: lists are multi-valued fields, mappings count as their JSON text."""
    if isinstance(value, list | tuple):
        for item in value:
            if item is not None:
                yield from iter_scalars(item)
    elif isinstance(value, dict):
        yield json_text(value)
    elif value is not None:
        yield value


# --- string values --------------------------------------------------------------------------------


class StringSet:
    """Several plain/wildcard strings on one field, OR-linked: one lower() and set/tuple tests.

    The common SigmaHQ shapes (equals, startswith, endswith, contains) become ``in`` on a frozenset,
    ``str.startswith(tuple)``, ``str.endswith(tuple)`` and a substring loop; anything else a regex.
    """

    def __init__(self, values: Iterable[StrValue], cased: bool) -> None:
        self.cased = cased
        equals: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        contains: list[str] = []
        globs: list[str] = []
        self.match_any = False
        for value in values:
            parts = value.parts if cased else tuple(p.lower() if isinstance(p, str) else p for p in value.parts)
            shape = _shape(parts)
            if shape == "any":
                self.match_any = True
            elif shape == "equals":
                equals.add("".join(parts))  # type: ignore[arg-type]
            elif shape == "startswith":
                prefixes.append(parts[0])  # type: ignore[arg-type]
            elif shape == "endswith":
                suffixes.append(parts[1])  # type: ignore[arg-type]
            elif shape == "contains":
                contains.append(parts[1])  # type: ignore[arg-type]
            else:
                globs.append(glob_to_regex(parts, MULTI, SINGLE))  # type: ignore[arg-type]
        self.equals = frozenset(equals)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.contains = tuple(contains)
        # All wildcard patterns of the set as one RE2 alternation: one call instead of one per pattern.
        self.globs = (compile_regex("|".join(f"(?:{g})" for g in globs)).search,) if globs else ()
        self.test_text: Callable[[str], bool] = self._specialize()

    def _specialize(self) -> Callable[[str], bool]:
        """One closure for the shapes present: the leaf calls it directly on string values."""
        if self.match_any:
            return lambda text: True
        eq, pre, suf, globs = self.equals, self.prefixes, self.suffixes, self.globs
        contains = self.contains
        contains_test: Callable[[str], bool]
        if len(contains) >= MANY_SUBSTRINGS:
            # One RE2 alternation beats a Python loop of `in` tests once the list is long.
            contains_test = compile_regex("|".join(_escape_literal(c) for c in contains)).search
        elif len(contains) == 1:
            only = contains[0]
            contains_test = lambda text: only in text  # noqa: E731
        else:
            contains_test = lambda text: any(sub in text for sub in contains)  # noqa: E731
        if len(suf) > MANY_AFFIXES:
            suf_test = _affix_test(suf, suffix=True)
        else:

            def suf_test(text: str) -> bool:
                return text.endswith(suf)

        if len(pre) > MANY_AFFIXES:
            pre_test = _affix_test(pre, suffix=False)
        else:

            def pre_test(text: str) -> bool:
                return text.startswith(pre)

        kinds = (bool(eq), bool(pre), bool(suf), bool(contains), bool(globs))
        if self.cased:

            def lower(text: str) -> str:
                return text
        else:
            lower = str.lower
        if kinds == (True, False, False, False, False):
            return lambda text: lower(text) in eq
        if kinds == (False, True, False, False, False):
            return lambda text: pre_test(lower(text))
        if kinds == (False, False, True, False, False):
            return lambda text: suf_test(lower(text))
        if kinds == (False, False, False, True, False):
            return lambda text: contains_test(lower(text))

        def mixed(text: str) -> bool:
            text = lower(text)
            return (
                text in eq
                or (bool(pre) and pre_test(text))
                or (bool(suf) and suf_test(text))
                or (bool(contains) and contains_test(text))
                or any(g(text) for g in globs)
            )

        return mixed

    def test(self, value: Any) -> bool:
        return self.test_text(value if type(value) is str else to_text(value))


MANY_SUBSTRINGS = 24
MANY_AFFIXES = 24  # SigmaHQ lists up to ~400 DLL names in one endswith


def _affix_test(affixes: tuple[str, ...], suffix: bool) -> Callable[[str], bool]:
    """``str.endswith(tuple)`` compares every entry; a set per length compares one slice per length."""
    by_length: dict[int, set[str]] = {}
    for affix in affixes:
        by_length.setdefault(len(affix), set()).add(affix)
    groups = sorted(by_length.items())
    if suffix:

        def ends(text: str) -> bool:
            size = len(text)
            return any(text[size - n :] in group for n, group in groups if n <= size)

        return ends

    def starts(text: str) -> bool:
        return any(text[:n] in group for n, group in groups if n <= len(text))

    return starts


_RE_META = frozenset("\\.^$|?*+()[]{}")


def _escape_literal(text: str) -> str:
    return "".join("\\" + c if c in _RE_META else c for c in text)


def _shape(parts: tuple[Any, ...]) -> str:
    if parts == (MULTI,) or (parts and all(p == MULTI and not isinstance(p, str) for p in parts)):
        return "any"
    texts = [isinstance(p, str) for p in parts]
    if all(texts):
        return "equals"
    if len(parts) == 2 and texts == [True, False] and parts[1] == MULTI:
        return "startswith"
    if len(parts) == 2 and texts == [False, True] and parts[0] == MULTI:
        return "endswith"
    if len(parts) == 3 and texts == [False, True, False] and parts[0] == parts[2] == MULTI:
        return "contains"
    if not parts:
        return "equals"
    return "glob"


def expand_placeholders(value: StrValue, placeholders: dict[str, list[str]]) -> list[StrValue]:
    """``%name%`` parts replaced by each configured value (the ``expand`` modifier)."""
    results: list[tuple[Any, ...]] = [()]
    for part in value.parts:
        if isinstance(part, Placeholder):
            options = placeholders[part.name]
            results = [r + _parse_wildcards(opt) for r in results for opt in options]
        else:
            results = [(*r, part) for r in results]
    return [StrValue(_merge(parts), value.cased) for parts in results]


def _parse_wildcards(text: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for piece in re.split(r"(\*|\?)", text):
        if piece == "*":
            out.append(MULTI)
        elif piece == "?":
            out.append(SINGLE)
        elif piece:
            out.append(piece)
    return tuple(out)


def _merge(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return tuple(merged)


# --- other values ---------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if type(value) is bool:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else float(text)
        except ValueError:
            return None
    return None


@lru_cache(maxsize=65536)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None


_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "neq": lambda a, b: a != b,
}


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10_000_000_000 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace(" ", "T", 1)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


_TIME_PARTS: dict[str, Callable[[datetime], int]] = {
    "minute": lambda d: d.minute,
    "hour": lambda d: d.hour,
    "day": lambda d: d.day,
    "week": lambda d: d.isocalendar()[1],
    "month": lambda d: d.month,
    "year": lambda d: d.year,
}


def compile_scalar(value: Value, regex_report: list[CompiledRegex] | None = None) -> Test:
    """A test on one non-null scalar event value. Null / exists / fieldref are leaf-level, not here."""
    if isinstance(value, StrValue):
        if any(isinstance(p, Placeholder) for p in value.parts):
            raise ValueCompileError("unexpanded placeholder")
        return StringSet([value], value.cased).test
    if isinstance(value, RegexValue):
        if value.placeholders:
            raise ValueCompileError(f"regex placeholders {', '.join(value.placeholders)} are not supported")
        try:
            compiled = compile_regex(value.pattern, value.flags)
        except ValueError as exc:
            raise ValueCompileError(str(exc)) from None
        if regex_report is not None:
            regex_report.append(compiled)
        search = compiled.search
        return lambda v: search(v if type(v) is str else to_text(v))
    if isinstance(value, NumValue):
        number, text = value.number, _num_text(value.number)
        return lambda v: (
            (v == number) if isinstance(v, int | float) and type(v) is not bool else (to_text(v).strip() == text)
        )
    if isinstance(value, CmpValue):
        op, bound = _OPS[value.op], value.number

        def compare(v: Any) -> bool:
            num = _number(v)
            return num is not None and op(num, bound)

        return compare
    if isinstance(value, BoolValue):
        want = value.value
        return lambda v: v is want if type(v) is bool else to_text(v).strip().lower() == ("true" if want else "false")
    if isinstance(value, CidrValue):
        network = ipaddress.ip_network(value.cidr, strict=False)

        def in_network(v: Any) -> bool:
            addr = _ip(v) if type(v) is str else None
            return addr is not None and addr.version == network.version and addr in network

        return in_network
    if isinstance(value, TimePartValue):
        part, want_n = _TIME_PARTS[value.unit], value.number

        def time_part(v: Any) -> bool:
            stamp = _timestamp(v)
            return stamp is not None and part(stamp) == want_n

        return time_part
    if isinstance(value, AnyOf):
        tests = [compile_scalar(v, regex_report) for v in value.values]
        return lambda v: any(t(v) for t in tests)
    if isinstance(value, NullValue | ExistsValue | FieldRefValue):
        raise ValueCompileError(f"{type(value).__name__} is handled by the field leaf")
    raise ValueCompileError(f"value {value!r} is not supported")


def _num_text(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


# --- literals for the prefilter -------------------------------------------------------------------


def literals(value: Value, keyword: bool = False) -> list[str] | None:
    """Lower-case strings of which one occurs in the haystack whenever ``value`` matches, or None."""
    if isinstance(value, StrValue):
        return _string_literal(value.parts, keyword)
    if isinstance(value, AnyOf):
        found: list[str] = []
        for inner in value.values:
            lits = literals(inner, keyword)
            if lits is None:
                return None
            found.extend(lits)
        return found
    if isinstance(value, NumValue) and isinstance(value.number, int) and not keyword:
        return [START + str(value.number) + END]
    if isinstance(value, RegexValue) and not value.placeholders:
        return regex_literals(value.pattern, value.flags)
    return None


def _string_literal(parts: tuple[Any, ...], keyword: bool) -> list[str] | None:
    if any(isinstance(p, Placeholder) for p in parts):
        return None
    best = ""
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if not isinstance(part, str):
            continue
        text = part.lower()
        # Keywords match anywhere inside any value, so their literals are never anchored.
        if not keyword:
            if i == 0:
                text = START + text
            if i == last:
                text = text + END
        if len(text) > len(best):
            best = text
    if not parts:  # the empty string
        return None if keyword else [START + END]
    return [best] if best else None


def regex_literals(pattern: str, flags: str = "") -> list[str] | None:
    """Alternatives of which one must occur (lower-cased) in any text the regex matches, or None."""
    try:
        parsed = re._parser.parse(pattern, re.IGNORECASE if "i" in flags else 0)  # type: ignore[attr-defined]
    except Exception:  # Python's parser rejects some RE2 syntax; then we know nothing
        return None
    options = _seq_literals(list(parsed))
    if not options:
        return None
    return sorted({o.lower() for o in options})


_LITERAL = re._constants.LITERAL  # type: ignore[attr-defined]
_SUBPATTERN = re._constants.SUBPATTERN  # type: ignore[attr-defined]
_BRANCH = re._constants.BRANCH  # type: ignore[attr-defined]
_MAX_REPEAT = re._constants.MAX_REPEAT  # type: ignore[attr-defined]
_MIN_REPEAT = re._constants.MIN_REPEAT  # type: ignore[attr-defined]
_IN = re._constants.IN  # type: ignore[attr-defined]


def _seq_literals(items: list[Any]) -> list[str] | None:
    """Best required-alternatives set of a regex sequence: a literal run, or a required group's."""
    candidates: list[list[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _LITERAL:
            run.append(chr(av))
            continue
        if run:
            candidates.append(["".join(run)])
            run = []
        if op is _IN and len(av) == 1 and av[0][0] is _LITERAL:
            run.append(chr(av[0][1]))  # a one-character class such as [.]
            continue
        if op is _SUBPATTERN:
            inner = _seq_literals(list(av[-1]))
            if inner:
                candidates.append(inner)
        elif op is _BRANCH:
            alternatives: list[str] = []
            for branch in av[1]:
                inner = _seq_literals(list(branch))
                if not inner:
                    alternatives = []
                    break
                alternatives.extend(inner)
            if alternatives:
                candidates.append(alternatives)
        elif op in (_MAX_REPEAT, _MIN_REPEAT) and av[0] >= 1:
            inner = _seq_literals(list(av[2]))
            if inner:
                candidates.append(inner)
    if run:
        candidates.append(["".join(run)])
    if not candidates:
        return None
    return max(candidates, key=_alternatives_score)


def _alternatives_score(options: list[str]) -> float:
    return min(len(o) for o in options) - 0.5 * (len(options) - 1) ** 0.5
