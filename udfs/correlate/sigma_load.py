"""Load Sigma correlation rules: pySigma parses each document, we resolve what it refers to.

Where they come from: ``rules/correlations/`` (the bundled pack) and every ``--sigma`` path, where a
correlation may sit in one multi-document file with the rules it names (the specification's own
example) or refer to rules elsewhere by id or by ``name``.

How a reference becomes something a hit can match: the detect stage stamps each hit with the Sigma
rule's ``id`` as ``rule_id`` and its ``title`` as ``rule_title``; a reference by name is translated
to that id and title here. A reference by id to a rule we did not read (SigmaHQ's thousands of files
are only skimmed for ``name:`` lines) still works: it matches ``rule_id``. A reference containing a
colon (``map:ttpflow-process-names``, ``event:attck_technique``) names one of ttpflow's own hit
sources. Anything else fails at load, with file, line and field.

Deviations from pySigma 2.0.1, both toward the specification: a condition may hold a range
(``gt`` and ``lte`` together; pySigma accepts one operator), and ``value_percentile`` without a
``percentile`` reads as the specification's example does (the share of events, in percent, that
carry each value of ``field``), while with one it is pySigma's numeric percentile.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma import exceptions as sigma_errors
from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from schemas.correlation import CorrelationCondition, RuleRef, SigmaCorrelation
from udfs.rulefile import RuleFileError

OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")
# An eager event_count keeps one timestamp per event until it fires: bound it.
MAX_EVENT_COUNT_THRESHOLD = 10_000
_NAME_LINE = re.compile(r"^name:\s*\S", re.MULTILINE)
_CORRELATION_LINE = re.compile(r"^correlation:", re.MULTILINE)


@dataclass
class _Doc:
    path: Path
    index: int  # document number inside the file
    data: dict[str, Any]
    node: yaml.Node | None

    def line(self, loc: tuple[str | int, ...] = ()) -> int:
        node = self.node
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == part), None)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]  # the key's line: where the field is named
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def error(self, loc: tuple[str | int, ...], message: str) -> RuleFileError:
        where = ".".join(str(p) for p in loc) or "(document)"
        return RuleFileError(f"{self.path}:{self.line(loc)}: field {where}: {message}")


@dataclass
class _Index:
    base_by_id: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)  # id -> (id, title, name)
    base_by_name: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    correlations: list[_Doc] = field(default_factory=list)


def rule_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
        elif path.is_file():
            out.append(path)
    return out


def _read_docs(path: Path, text: str) -> list[_Doc]:
    try:
        datas = list(yaml.safe_load_all(text))
        nodes = list(yaml.compose_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise RuleFileError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    docs = []
    for i, data in enumerate(datas):
        if isinstance(data, dict):
            docs.append(_Doc(path, i, data, nodes[i] if i < len(nodes) else None))
    return docs


def _index(files: list[Path], *, strict: bool) -> _Index:
    """Correlation documents, and the id/name/title of the detection rules they may name.

    ``strict`` files (the bundled pack) are read whole; elsewhere a file is only parsed when its
    text has a correlation or a top-level ``name:`` (a cheap skim of large rule trees)."""
    index = _Index()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if not strict and not (_CORRELATION_LINE.search(text) or _NAME_LINE.search(text)):
            continue
        try:
            docs = _read_docs(path, text)
        except RuleFileError:
            if strict:
                raise
            continue  # the detect stage reports unreadable Sigma files; not ours to fail on
        for doc in docs:
            if "correlation" in doc.data:
                index.correlations.append(doc)
                continue
            rid, title, name = doc.data.get("id"), doc.data.get("title"), doc.data.get("name")
            entry = (str(rid) if rid else f"name:{name}", str(title) if title else None, str(name) if name else None)
            if rid:
                index.base_by_id.setdefault(str(rid), entry)
            if name:
                index.base_by_name.setdefault(str(name), entry)
    return index


_FIELD_OF_ERROR: list[tuple[type[Exception], tuple[str, ...]]] = [
    (sigma_errors.SigmaCorrelationTypeError, ("correlation", "type")),
    (sigma_errors.SigmaTimespanError, ("correlation", "timespan")),
    (sigma_errors.SigmaCorrelationConditionError, ("correlation", "condition")),
    (sigma_errors.SigmaTitleError, ("title",)),
    (sigma_errors.SigmaIdentifierError, ("id",)),
    (sigma_errors.SigmaLevelError, ("level",)),
    (sigma_errors.SigmaStatusError, ("status",)),
    (sigma_errors.SigmaNameError, ("name",)),
    (sigma_errors.SigmaDateError, ("date",)),
    (sigma_errors.SigmaModifiedError, ("modified",)),
    (sigma_errors.SigmaTaxonomyError, ("taxonomy",)),
]
_FIELD_BY_WORD = [("rule reference", "rules"), ("group-by", "group-by"), ("timespan", "timespan"),
                  ("alias", "aliases"), ("generate", "generate"), ("field reference", "condition"),
                  ("condition", "condition"), ("'correlation'", "")]


def _error_location(exc: Exception) -> tuple[str, ...]:
    for kind, loc in _FIELD_OF_ERROR:
        if isinstance(exc, kind):
            return loc
    text = str(exc.args[0] if exc.args else exc).lower()
    for word, key in _FIELD_BY_WORD:
        if word in text:
            return ("correlation", key) if key else ("correlation",)
    return ()


def _parse(doc: _Doc) -> tuple[SigmaCorrelationRule, dict[str, float]]:
    """pySigma's parse of one correlation document, and every condition operator it holds."""
    data = dict(doc.data)
    body = data.get("correlation")
    ops: dict[str, float] = {}
    if isinstance(body, dict) and isinstance(body.get("condition"), dict):
        condition = dict(body["condition"])
        given = [op for op in OPERATORS if op in condition]
        for op in given:
            value = condition[op]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise doc.error(("correlation", "condition", op), f"expected a number, got {value!r}")
            ops[op] = float(value)
        # pySigma 2.0.1 takes one operator; the specification allows a range (AND of two).
        for op in given[1:]:
            del condition[op]
        data["correlation"] = {**body, "condition": condition}
    try:
        return SigmaCorrelationRule.from_dict(data), ops
    except sigma_errors.SigmaError as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise doc.error(_error_location(exc), str(message)) from None


def _looks_like_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def load_sigma_correlations(strict_paths: Iterable[Path], sigma_paths: Iterable[Path] = ()) -> list[SigmaCorrelation]:
    """Every correlation rule under ``strict_paths`` (the pack) and ``sigma_paths`` (user Sigma trees)."""
    strict = _index(rule_files(strict_paths), strict=True)
    loose = _index(rule_files(sigma_paths), strict=False)
    docs = strict.correlations + loose.correlations
    base_by_id = {**loose.base_by_id, **strict.base_by_id}
    base_by_name = {**loose.base_by_name, **strict.base_by_name}

    parsed: list[tuple[_Doc, SigmaCorrelationRule, dict[str, float]]] = [(d, *_parse(d)) for d in docs]
    corr_by_ref: dict[str, tuple[_Doc, SigmaCorrelationRule]] = {}
    for doc, rule, _ in parsed:
        for key in (str(rule.id) if rule.id else None, rule.name):
            if key is None:
                continue
            if key in corr_by_ref and corr_by_ref[key][0] is not doc:
                other = corr_by_ref[key][0]
                raise doc.error(("id",) if key == str(rule.id) else ("name",),
                                f"{key!r} is already defined in {other.path}:{other.line()}")
            corr_by_ref[key] = (doc, rule)

    out = [_compile(doc, rule, ops, corr_by_ref, base_by_id, base_by_name) for doc, rule, ops in parsed]
    by_id = {c.id: c for c in out}
    for doc, compiled in zip([p[0] for p in parsed], out, strict=True):
        for i, ref in enumerate(compiled.refs):
            if ref.correlation and by_id[ref.ids[0]].stage > 1:
                raise doc.error(("correlation", "rules", i),
                                f"{ref.ref!r} is itself a chained correlation: chains deeper than two "
                                "correlations are not supported")
    return out


def _compile(
    doc: _Doc,
    rule: SigmaCorrelationRule,
    ops: dict[str, float],
    corr_by_ref: dict[str, tuple[_Doc, SigmaCorrelationRule]],
    base_by_id: dict[str, tuple[str, str | None, str | None]],
    base_by_name: dict[str, tuple[str, str | None, str | None]],
) -> SigmaCorrelation:
    ctype = rule.type.name.lower()
    # An extended condition without a rules list names its rules in the expression.
    texts = (
        [r.reference for r in rule.rules] if rule.rules is not None
        else rule.condition.get_referenced_rules()  # type: ignore[union-attr]
    )
    refs = [_resolve(doc, rule, i, text, corr_by_ref, base_by_id, base_by_name) for i, text in enumerate(texts)]
    condition = _condition(doc, rule, ctype, ops, len(refs))
    aliases = _aliases(doc, rule, refs)
    group_by = tuple(rule.group_by or ())
    for i, g in enumerate(group_by):
        if not g:
            raise doc.error(("correlation", "group-by", i), "an empty field name")
    return SigmaCorrelation(
        id=_correlation_id(rule),
        name=rule.name,
        title=rule.title,
        type="value_percentile" if ctype == "value_median" else ctype,  # type: ignore[arg-type]
        refs=tuple(refs),
        group_by=group_by,
        aliases=aliases,
        timespan_ms=rule.timespan.seconds * 1000,
        condition=condition,
        generate=bool(rule.generate),
        level=rule.level.name.lower() if rule.level else "high",  # type: ignore[arg-type]
        taxonomy=rule.taxonomy or "sigma",
        source=f"{doc.path}:{doc.line()}",
        stage=2 if any(r.correlation for r in refs) else 1,
    )


def _resolve(
    doc: _Doc,
    rule: SigmaCorrelationRule,
    i: int,
    text: str,
    corr_by_ref: dict[str, tuple[_Doc, SigmaCorrelationRule]],
    base_by_id: dict[str, tuple[str, str | None, str | None]],
    base_by_name: dict[str, tuple[str, str | None, str | None]],
) -> RuleRef:
    loc = ("correlation", "rules", i) if rule.rules is not None else ("correlation", "condition")
    if text in corr_by_ref:
        inner = corr_by_ref[text][1]
        if inner is rule:
            raise doc.error(loc, "a correlation cannot refer to itself")
        return RuleRef(ref=text, ids=(_correlation_id(inner),), titles=(inner.title,), name=inner.name,
                       correlation=True)
    if text in base_by_id or text in base_by_name:
        rid, title, name = base_by_id.get(text) or base_by_name[text]
        return RuleRef(ref=text, ids=(rid,), titles=(title,) if title else (), name=name)
    if _looks_like_uuid(text) or ":" in text:
        return RuleRef(ref=text, ids=(text,))
    raise doc.error(loc, f"unknown rule {text!r}: no Sigma rule or correlation with that id or name was found "
                         "in the correlation packs or the --sigma paths")


def _correlation_id(rule: SigmaCorrelationRule) -> str:
    if rule.id:
        return str(rule.id)
    if rule.name:
        return f"name:{rule.name}"
    # Neither id nor name: the title is all that identifies it (stable across restarts).
    return f"title:{rule.title}"


def _tree(node: Any) -> list[Any]:
    """pySigma's parsed extended condition as plain nested lists: ["and", a, b], ["ref", "name"]."""
    if isinstance(node, SigmaRuleReference):
        return ["ref", node.reference]
    kind = {CorrelationConditionAND: "and", CorrelationConditionOR: "or", CorrelationConditionNOT: "not"}[type(node)]
    return [kind, *(_tree(a) for a in node.args)]


def _condition(doc: _Doc, rule: SigmaCorrelationRule, ctype: str, ops: dict[str, float],
               n_refs: int) -> CorrelationCondition:
    cond = rule.condition
    if isinstance(cond, SigmaExtendedCorrelationCondition):
        if ctype != "temporal":
            raise doc.error(("correlation", "condition"),
                            "an extended (boolean) condition is supported for temporal correlations only")
        return CorrelationCondition(expression=cond.expression, tree=_tree(cond.parsed))
    fields: tuple[str, ...] = ()
    if cond.fieldref:
        fields = tuple(cond.fieldref) if isinstance(cond.fieldref, list) else (cond.fieldref,)
    if not ops:  # the temporal default pySigma filled in: every referenced rule
        ops = {cond.op.name.lower(): float(cond.count)}
    if ctype == "temporal_ordered" and ops not in ({"gte": float(n_refs)}, {"eq": float(n_refs)}):
        raise doc.error(("correlation", "condition"),
                        "temporal_ordered needs every rule, in order; a partial count is not supported")
    if ctype == "event_count" and set(ops) <= {"gt", "gte"} and max(ops.values()) > MAX_EVENT_COUNT_THRESHOLD:
        raise doc.error(("correlation", "condition"),
                        f"event_count thresholds above {MAX_EVENT_COUNT_THRESHOLD} are not supported in "
                        "a sliding window; chain two correlations instead")
    if ctype in ("value_count", "value_sum", "value_avg", "value_percentile", "value_median") and not fields:
        raise doc.error(("correlation", "condition", "field"), f"{ctype} needs condition.field")
    percentile = cond.percentile
    if ctype == "value_median":
        percentile = 50
    return CorrelationCondition(ops=ops, fields=fields, percentile=percentile)  # type: ignore[arg-type]


def _aliases(doc: _Doc, rule: SigmaCorrelationRule, refs: list[RuleRef]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for alias in rule.aliases:
        mapping: dict[str, str] = {}
        for ref, field_name in alias.mapping.items():
            target = next((r for r in refs if ref.reference in (r.ref, r.name, *r.ids)), None)
            if target is None:
                raise doc.error(("correlation", "aliases", alias.alias, ref.reference),
                                f"{ref.reference!r} is not one of this correlation's rules")
            mapping[target.ref] = str(field_name)
        out[alias.alias] = mapping
    return out
