"""Parse Sigma YAML with pySigma and translate the result into ``ir``.

This is the only module that touches pySigma's object model. pySigma does the Sigma semantics that
are easy to get subtly wrong (modifier chains, ``1 of`` / ``all of`` with wildcards, windash and
base64offset expansion, ``neq``); we take its resolved condition tree and keep plain values.

Every problem becomes a ``RuleProblem`` naming the file, the line (best effort, from the YAML node)
and the field, so ``ttpflow rules check`` can print something a rule author can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConditionError, SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.policy.profiles import TrustedPolicy
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaYAMLLoader
from sigma.types import (
    Placeholder as SigmaPlaceholder,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from udfs.detect.sigma.ir import (
    MULTI,
    SINGLE,
    And,
    AnyOf,
    BoolValue,
    CidrValue,
    CmpValue,
    ExistsValue,
    FieldMatch,
    FieldRefValue,
    FilterIR,
    Keyword,
    LogSource,
    Node,
    Not,
    NullValue,
    NumValue,
    Or,
    Part,
    Placeholder,
    RegexValue,
    RuleIR,
    StrValue,
    TimePartValue,
    Value,
)
from udfs.errors import TtpflowError

# The Sigma specification names UTF-16LE encoding "utf16le", an alias of "wide"; pySigma 2.0.1 only
# knows "wide". Registered once, process-wide, so rules written either way load.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)

_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


@dataclass(frozen=True)
class RuleProblem:
    """A rule (or document) that could not be loaded, or a warning about one that was."""

    path: str
    line: int | None
    field: str | None
    reason: str  # short, stable category used for counting: "yaml", "sigma", "unsupported_value", ...
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line or '?'}"
        fld = f": field {self.field}" if self.field else ""
        return f"{where}{fld}: {self.message}"


@dataclass
class ParsedFile:
    rules: list[RuleIR]
    filters: list[FilterIR]
    problems: list[RuleProblem]  # rules that did not load
    skipped: list[RuleProblem]  # documents that are not detection rules (correlations)


class _Unsupported(TtpflowError):
    def __init__(self, message: str, field: str | None = None, selection: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.selection = selection


def parse_file(path: Path, text: str | None = None) -> ParsedFile:
    text = path.read_text(encoding="utf-8") if text is None else text
    out = ParsedFile([], [], [], [])
    try:
        # pySigma's own loader (C-accelerated SafeLoader that rejects duplicate keys); from_yaml would
        # use the pure-Python loader and take three times as long on the SigmaHQ tree.
        docs = list(yaml.load_all(text, Loader=SigmaYAMLLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        out.problems.append(
            RuleProblem(
                str(path),
                mark.line + 1 if mark else None,
                None,
                "yaml",
                f"not valid YAML: {getattr(exc, 'problem', exc)}",
            )
        )
        return out
    try:
        # pySigma's default policy validates regexes with RE2 and so rejects look-arounds. We accept
        # what Python's re accepts and run it on RE2 where possible (regex.py), so rules are
        # parsed under the policy that checks regexes with Python's engine.
        collection = SigmaCollection.from_dicts(
            docs,
            collect_errors=True,
            source=SigmaRuleLocation(path),
            collect_filters=True,
            policy=TrustedPolicy,
        )
    except SigmaError as exc:
        line, fld = _locate(text, exc)
        out.problems.append(RuleProblem(str(path), line, fld, "sigma", _message(exc)))
        return out
    for err in collection.errors:
        if not any(err is e for r in collection.rules for e in r.errors):
            line, fld = _locate(text, err)
            out.problems.append(RuleProblem(str(path), line, fld, "sigma", _message(err)))
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            out.skipped.append(
                RuleProblem(
                    str(path),
                    _line_of(text, ("correlation",)),
                    None,
                    "correlation",
                    "correlation rule: handled by the correlate stage, not by detect",
                    str(rule.id or rule.name or ""),
                )
            )
            continue
        if not isinstance(rule, SigmaRule):
            continue
        rule_id = str(rule.id) if rule.id else (rule.name or f"{path.stem}")
        if rule.errors:
            err = rule.errors[0]
            line, fld = _locate(text, err)
            out.problems.append(RuleProblem(str(path), line, fld, "sigma", _message(err), rule_id))
            continue
        try:
            out.rules.append(_rule_ir(rule, rule_id, path))
        except _Unsupported as exc:
            line = _line_of(text, ("detection", exc.selection)) if exc.selection else None
            line = _field_line(text, exc.selection, exc.field) or line or _line_of(text, ("detection",))
            out.problems.append(RuleProblem(str(path), line, exc.field, "unsupported", str(exc), rule_id))
        except SigmaError as exc:
            line, fld = _locate(text, exc)
            out.problems.append(RuleProblem(str(path), line, fld, "sigma", _message(exc), rule_id))
    for sfilter in collection.filters:
        try:
            out.filters.append(_filter_ir(sfilter, path))
        except (_Unsupported, SigmaError) as exc:
            field = getattr(exc, "field", None)
            out.problems.append(
                RuleProblem(
                    str(path), _line_of(text, ("filter",)), field, "unsupported", _message(exc), str(sfilter.id or "")
                )
            )
    return out


def _message(err: Exception) -> str:
    # pySigma appends the resolved source path to messages; the problem carries the path already.
    msg = str(err)
    return msg.split(" in /", 1)[0] if " in /" in msg else msg


def _logsource(ls: Any) -> LogSource:
    return LogSource(product=ls.product, category=ls.category, service=ls.service)


def _rule_ir(rule: SigmaRule, rule_id: str, path: Path) -> RuleIR:
    conditions = [_condition(c.parsed) for c in rule.detection.parsed_condition]
    condition = conditions[0] if len(conditions) == 1 else Or(tuple(conditions))
    return RuleIR(
        rule_id=rule_id,
        title=rule.title or rule_id,
        path=str(path),
        logsource=_logsource(rule.logsource),
        condition=condition,
        level=rule.level.name.lower() if rule.level else "medium",
        status=rule.status.name.lower() if rule.status else None,
        name=rule.name,
        tags=tuple(f"{t.namespace}.{t.name}" for t in rule.tags),
        falsepositives=tuple(str(f) for f in (rule.falsepositives or ())),
    )


def _filter_ir(sfilter: SigmaFilter, path: Path) -> FilterIR:
    glob = sfilter.filter
    refs = None if isinstance(glob.rules, str) else tuple(ref.reference for ref in glob.rules)
    condition = _condition(glob.parsed_condition[0].parsed)
    return FilterIR(
        filter_id=str(sfilter.id or sfilter.name or path.stem),
        title=sfilter.title or path.stem,
        path=str(path),
        logsource=_logsource(sfilter.logsource),
        rules=refs,
        condition=condition,
    )


def _condition(node: Any) -> Node:
    if node is None:
        raise _Unsupported("condition resolves to no detection")
    if isinstance(node, ConditionAND | ConditionOR):
        kind = And if isinstance(node, ConditionAND) else Or
        children: list[Node] = []
        for arg in node.args:
            child = _condition(arg)
            # Flatten nested same-kind nodes: fewer closures at match time.
            children.extend(child.children if isinstance(child, kind) else (child,))
        return kind(tuple(children))
    if isinstance(node, ConditionNOT):
        return Not(_condition(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        try:
            return FieldMatch(node.field, _value(node.value))
        except _Unsupported as exc:
            raise _Unsupported(str(exc), node.field, _selection_of(node)) from None
    if isinstance(node, ConditionValueExpression):
        return Keyword(_value(node.value))
    raise _Unsupported(f"condition element {type(node).__name__} is not supported")


def _selection_of(node: Any) -> str | None:
    for parent in node.parent_chain():
        if isinstance(parent, ConditionIdentifier):
            return parent.identifier
    return None


def _parts(value: SigmaString) -> tuple[Part, ...]:
    parts: list[Part] = []
    for part in value.s:
        if isinstance(part, str):
            parts.append(part)
        elif part is SpecialChars.WILDCARD_MULTI:
            parts.append(MULTI)
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(SINGLE)
        elif isinstance(part, SigmaPlaceholder):
            parts.append(Placeholder(part.name))
        else:
            raise _Unsupported(f"string part {part!r} is not supported")
    return tuple(parts)


def _value(value: Any) -> Value:
    # Order matters: SigmaCasedString subclasses SigmaString, SigmaTimestampPart subclasses SigmaNumber.
    if isinstance(value, SigmaCasedString):
        return StrValue(_parts(value), cased=True)
    if isinstance(value, SigmaString):
        return StrValue(_parts(value))
    if isinstance(value, SigmaRegularExpression):
        placeholders = tuple(p.name for p in value.regexp.s if isinstance(p, SigmaPlaceholder))
        flags = "".join(sorted(_REGEX_FLAGS[f] for f in value.flags))
        return RegexValue(str(value.regexp), flags, placeholders)
    if isinstance(value, SigmaTimestampPart):
        return TimePartValue(value.timestamp_part.name.lower(), int(value.number))
    if isinstance(value, SigmaNumber):
        return NumValue(value.number)
    if isinstance(value, SigmaCompareExpression):
        return CmpValue(value.op.name.lower(), value.number.number)
    if isinstance(value, SigmaBool):
        return BoolValue(bool(value.boolean))
    if isinstance(value, SigmaNull):
        return NullValue()
    if isinstance(value, SigmaExists):
        return ExistsValue(bool(value.exists))
    if isinstance(value, SigmaCIDRExpression):
        return CidrValue(str(value.network))
    if isinstance(value, SigmaFieldReference):
        return FieldRefValue(value.field, value.starts_with, value.ends_with)
    if isinstance(value, SigmaExpansion):
        return AnyOf(tuple(_value(v) for v in value.values))
    raise _Unsupported(f"value type {type(value).__name__} is not supported")


# --- locating lines -------------------------------------------------------------------------------


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    except yaml.composer.ComposerError:  # multi-document file: the first document is enough
        return next(iter(yaml.compose_all(text, Loader=yaml.CSafeLoader)), None)


def _line_of(text: str, keys: tuple[str | None, ...]) -> int | None:
    node = _compose(text)
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode) or key is None:
            break
        node = next((v for k, v in node.value if k.value == key), None)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _field_line(text: str, selection: str | None, field: str | None) -> int | None:
    """The line of ``field`` (with any modifiers) inside ``detection.<selection>``."""
    if not selection or not field:
        return None
    root = _compose(text)
    if not isinstance(root, yaml.MappingNode):
        return None
    det = next((v for k, v in root.value if k.value == "detection"), None)
    sel = next((v for k, v in det.value if k.value == selection), None) if isinstance(det, yaml.MappingNode) else None
    stack = [sel] if sel is not None else []
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.MappingNode):
            for key, val in node.value:
                if str(key.value).split("|", 1)[0] == field:
                    return key.start_mark.line + 1
                stack.append(val)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _locate(text: str, err: Exception) -> tuple[int | None, str | None]:
    """Best-effort (line, field) of a pySigma error: pySigma names the offending token, not its line."""
    source = getattr(err, "source", None)
    if source is not None and getattr(source, "line", None):
        return int(source.line), None
    if isinstance(err, SigmaConditionError):
        return _line_of(text, ("detection", "condition")), None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("detection:")), 0)
    for token in re.findall(r"'([^']+)'", str(err)):
        for number in range(start, len(lines)):
            if token in lines[number]:
                return number + 1, _field_at(lines, number)
    msg = str(err).lower()
    for key in ("logsource", "detection", "tags", "level", "status", "date", "title"):
        if key in msg:
            return _line_of(text, (key,)), None
    return None, None


def locate_text(path: str, needle: str) -> int | None:
    """The first line holding ``needle`` (case-insensitive), e.g. a tag."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    needle = needle.lower()
    return next((number for number, line in enumerate(lines, start=1) if needle in line.lower()), None)


def locate_field(path: str, field: str | None) -> int | None:
    """The first line of ``detection`` where ``field`` is a key (with or without modifiers)."""
    if not field:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    start = next((i for i, line in enumerate(lines) if line.startswith("detection:")), 0)
    for number in range(start, len(lines)):
        key = lines[number].strip().lstrip("- ").split(":", 1)[0].strip().strip("'\"")
        if key.split("|", 1)[0] == field:
            return number + 1
    return None


def _field_at(lines: list[str], number: int) -> str | None:
    """The Sigma field whose key is on ``number`` or owns the list item there."""
    line = lines[number]
    indent = len(line) - len(line.lstrip())
    for i in range(number, -1, -1):
        candidate = lines[i]
        stripped = candidate.strip().lstrip("- ").strip()
        cur = len(candidate) - len(candidate.lstrip())
        if ":" in stripped and (i == number or cur < indent):
            key = stripped.split(":", 1)[0].strip().strip("'\"")
            return key.split("|", 1)[0] or None
        if i != number and cur < indent and candidate.strip():
            indent = cur
    return None


__all__ = ["ParsedFile", "RuleProblem", "parse_file"]
