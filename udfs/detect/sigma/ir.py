"""A small, picklable intermediate form of a Sigma rule: what pySigma parsed, minus pySigma's objects.

pySigma parses a rule into rich objects (modifiers already applied, conditions resolved into a tree).
We keep only the resulting tree of plain values here, so that (1) the compiled-rule cache can store
it keyed by file content and skip pySigma on a warm start, and (2) compilation to matchers does not
depend on pySigma internals beyond one translation module (``parse``).

A string value is a tuple of parts: ``str`` (literal text), ``MULTI`` / ``SINGLE`` (the ``*`` and
``?`` wildcards) or ``Placeholder`` (``%name%`` of the ``expand`` modifier).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MULTI = 0  # '*' wildcard part of a string value
SINGLE = 1  # '?' wildcard part


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str


Part = str | int | Placeholder


# --- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrValue:
    parts: tuple[Part, ...]
    cased: bool = False


@dataclass(frozen=True, slots=True)
class RegexValue:
    pattern: str
    flags: str = ""  # subset of "ims"
    placeholders: tuple[str, ...] = ()  # %name% inside the pattern (expand modifier)


@dataclass(frozen=True, slots=True)
class CidrValue:
    cidr: str


@dataclass(frozen=True, slots=True)
class NumValue:
    number: int | float


@dataclass(frozen=True, slots=True)
class CmpValue:
    op: str  # lt, lte, gt, gte, neq
    number: int | float


@dataclass(frozen=True, slots=True)
class BoolValue:
    value: bool


@dataclass(frozen=True, slots=True)
class NullValue:
    pass


@dataclass(frozen=True, slots=True)
class ExistsValue:
    exists: bool


@dataclass(frozen=True, slots=True)
class FieldRefValue:
    field: str
    starts_with: bool = False
    ends_with: bool = False


@dataclass(frozen=True, slots=True)
class TimePartValue:
    unit: str  # minute, hour, day, week, month, year
    number: int


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Values expanded by one modifier (windash, base64offset): always OR-linked among themselves."""

    values: tuple[Value, ...]


Value = (
    StrValue
    | RegexValue
    | CidrValue
    | NumValue
    | CmpValue
    | BoolValue
    | NullValue
    | ExistsValue
    | FieldRefValue
    | TimePartValue
    | AnyOf
)


# --- conditions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class FieldMatch:
    field: str
    value: Value


@dataclass(frozen=True, slots=True)
class Keyword:
    """A value without a field: matched against every text value of the event."""

    value: Value


Node = And | Or | Not | FieldMatch | Keyword


# --- rules and filters ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogSource:
    product: str | None = None
    category: str | None = None
    service: str | None = None

    def __str__(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (("product", self.product), ("category", self.category), ("service", self.service))
            if v
        ]
        return "/".join(parts) or "any"

    def covers(self, other: LogSource) -> bool:
        """True if every attribute set here is equal in ``other`` (a filter's logsource vs a rule's)."""
        return all(
            mine is None or mine == theirs
            for mine, theirs in (
                (self.product, other.product),
                (self.category, other.category),
                (self.service, other.service),
            )
        )


@dataclass(frozen=True, slots=True)
class RuleIR:
    rule_id: str
    title: str
    path: str
    logsource: LogSource
    condition: Node  # several Sigma conditions are OR-linked into one
    level: str = "medium"
    status: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class FilterIR:
    """A Sigma filter (``filter:`` document): ANDed onto the rules it names, for their logsource."""

    filter_id: str
    title: str
    path: str
    logsource: LogSource
    rules: tuple[str, ...] | None  # None = any rule of the logsource
    condition: Node


def iter_nodes(node: Node):  # type: ignore[no-untyped-def]
    """Every node of a condition tree, depth first."""
    yield node
    if isinstance(node, And | Or):
        for child in node.children:
            yield from iter_nodes(child)
    elif isinstance(node, Not):
        yield from iter_nodes(node.child)


def iter_values(value: Value):  # type: ignore[no-untyped-def]
    if isinstance(value, AnyOf):
        for inner in value.values:
            yield from iter_values(inner)
    else:
        yield value


def fields_of(node: Node) -> set[str]:
    found: set[str] = set()
    for item in iter_nodes(node):
        if isinstance(item, FieldMatch):
            found.add(item.field)
            for value in iter_values(item.value):
                if isinstance(value, FieldRefValue):
                    found.add(value.field)
    return found


def has_keywords(node: Node) -> bool:
    return any(isinstance(item, Keyword) for item in iter_nodes(node))
