"""Field predicates of sequence steps (``where``), compiled once into plain functions.

    where:
      process.name: rundll32.exe             # equal (text compares case-insensitively)
      destination.port: [80, 443, 8080]      # any of
      destination.ip: {cidr: 10.0.0.0/8}     # operators: eq in contains startswith endswith regex
      source.bytes: {gte: 1000000}           #   gt gte lt lte exists cidr not
      user.name: {not: {in: [svc_backup]}}

Every entry must hold (AND). A list value of the hit field matches when any element does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from udfs.correlate.fields import resolve
from udfs.errors import TtpflowError

Test = Callable[[Any], bool]
HitPredicate = Callable[[dict[str, Any]], bool]

OPERATORS = ("eq", "in", "contains", "startswith", "endswith", "regex", "gt", "gte", "lt", "lte", "exists",
             "cidr", "not")


class PredicateError(TtpflowError, ValueError):
    """A ``where`` entry that cannot compile; ``path`` locates it inside ``where``."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(f"{'.'.join(path)}: {message}")
        self.path = path


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _equal(expected: Any) -> Test:
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        want = _text(expected)
        return lambda got: _text(got) == want
    number = float(expected)
    return lambda got: _num(got) == number or _text(got) == _text(expected)


def _compile_op(op: str, arg: Any, path: tuple[str, ...]) -> Test:
    if op == "eq":
        return _equal(arg)
    if op == "in":
        if not isinstance(arg, list) or not arg:
            raise PredicateError(path, "in needs a non-empty list")
        tests = [_equal(a) for a in arg]
        return lambda got: any(t(got) for t in tests)
    if op in ("contains", "startswith", "endswith"):
        needle = _text(arg)
        if op == "contains":
            return lambda got: needle in _text(got)
        if op == "startswith":
            return lambda got: _text(got).startswith(needle)
        return lambda got: _text(got).endswith(needle)
    if op == "regex":
        try:
            pattern = re.compile(str(arg), re.IGNORECASE)
        except re.error as exc:
            raise PredicateError(path, f"regex does not compile: {exc}") from None
        return lambda got: pattern.search(str(got)) is not None
    if op in ("gt", "gte", "lt", "lte"):
        bound = _num(arg)
        if bound is None:
            raise PredicateError(path, f"{op} needs a number, got {arg!r}")
        compare = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[op]
        return lambda got: (n := _num(got)) is not None and compare(n, bound)
    if op == "cidr":
        try:
            network = ipaddress.ip_network(str(arg), strict=False)
        except ValueError as exc:
            raise PredicateError(path, f"cidr: {exc}") from None

        def in_network(got: Any) -> bool:
            try:
                return ipaddress.ip_address(str(got)) in network
            except ValueError:
                return False

        return in_network
    raise PredicateError(path, f"unknown operator {op!r}; one of {', '.join(OPERATORS)}")


def _compile_value(spec: Any, path: tuple[str, ...]) -> tuple[Test, bool | None]:
    """(test on one scalar, exists requirement). ``exists`` is about the field, not its values."""
    if isinstance(spec, list):
        if not spec:
            raise PredicateError(path, "an empty list matches nothing")
        tests = [_equal(v) for v in spec]
        return (lambda got: any(t(got) for t in tests)), None
    if not isinstance(spec, dict):
        return _equal(spec), None
    if not spec:
        raise PredicateError(path, "an empty operator mapping")
    tests: list[Test] = []
    exists: bool | None = None
    negated: list[Test] = []
    for op, arg in spec.items():
        if op == "exists":
            if not isinstance(arg, bool):
                raise PredicateError((*path, op), "exists needs true or false")
            exists = arg
        elif op == "not":
            inner, _ = _compile_value(arg, (*path, op))
            negated.append(inner)
        else:
            tests.append(_compile_op(str(op), arg, (*path, str(op))))

    def test(got: Any) -> bool:
        return all(t(got) for t in tests) and not any(n(got) for n in negated)

    return test, exists


def compile_where(where: dict[str, Any]) -> HitPredicate:
    """``where`` -> predicate on a hit. Raises :class:`PredicateError` naming the entry."""
    if not isinstance(where, dict):
        raise PredicateError((), "where must be a mapping of field -> value")
    compiled: list[tuple[str, Test, bool | None, bool]] = []
    for field, spec in where.items():
        test, exists = _compile_value(spec, (str(field),))
        only_exists = isinstance(spec, dict) and set(spec) == {"exists"}
        compiled.append((str(field), test, exists, only_exists))

    def predicate(hit: dict[str, Any]) -> bool:
        for field, test, exists, only_exists in compiled:
            value = resolve(hit, field)
            present = value is not None and value != []
            if exists is not None and present != exists:
                return False
            if only_exists:
                continue
            if not present:
                return False
            values = value if isinstance(value, list) else [value]
            if not any(test(v) for v in values):
                return False
        return True

    return predicate
