"""Load the correlation rule packs: sequences and tactic progressions (``rules/sequences``), Sigma
correlations (``rules/correlations`` and the ``--sigma`` paths), risk thresholds (``rules/risk``).
Every problem names file, line, field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from schemas.risk import RiskThresholdRule
from schemas.rules import HitMatcher, SequenceRule, TacticProgressionRule
from udfs.correlate.engine import RuleSet
from udfs.correlate.predicates import PredicateError, compile_where
from udfs.correlate.sigma_load import load_sigma_correlations
from udfs.detect.catalog import default_catalog
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of, load_yaml_model

RuleModel = SequenceRule | TacticProgressionRule
_KINDS: dict[str, type[SequenceRule] | type[TacticProgressionRule]] = {
    "sequence": SequenceRule,
    "tactic_progression": TacticProgressionRule,
}


def _problem(path: Path, text: str, loc: tuple[Any, ...], message: str) -> RuleFileError:
    field = ".".join(str(p) for p in loc) or "(document)"
    return RuleFileError(message, location=Location(str(path), line_of(text, loc), field))


def _kind_of(path: Path, text: str) -> str | None:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # load_yaml_model reports it with its line
    return doc.get("kind") if isinstance(doc, dict) else None


def _check_matcher(path: Path, text: str, loc: tuple[Any, ...], spec: HitMatcher) -> None:
    catalog = default_catalog()
    for i, tactic in enumerate(spec.tactics):
        if not catalog.resolve_tactic(tactic).known:
            raise _problem(path, text, (*loc, "tactics", i),
                           f"unknown tactic {tactic!r}; one of {', '.join(catalog.tactic_order)}")
    try:
        compile_where(spec.where)
    except PredicateError as exc:
        raise _problem(path, text, (*loc, "where", *exc.path[:1]), str(exc)) from None


def _check(path: Path, text: str, rule: RuleModel) -> None:
    for loc, message in rule.problems():
        raise _problem(path, text, loc, message)
    if isinstance(rule, SequenceRule):
        for i, step in enumerate(rule.steps):
            _check_matcher(path, text, ("steps", i), step)
        if rule.until is not None:
            _check_matcher(path, text, ("until",), rule.until)
    else:
        catalog = default_catalog()
        for i, tactic in enumerate(rule.tactics):
            if tactic not in catalog.tactic_order:
                raise _problem(path, text, ("tactics", i), f"unknown tactic {tactic!r}")


def _load_dir(rules_dir: Path, kind: str) -> list[Any]:
    rules: list[Any] = []
    seen: dict[str, Path] = {}
    for path in sorted((rules_dir / "sequences").glob("*.y*ml")):
        text = path.read_text()
        found = _kind_of(path, text)
        if found not in _KINDS and found is not None:
            raise _problem(path, text, ("kind",), f"expected one of {', '.join(_KINDS)}, got {found!r}")
        if (found or "sequence") != kind:
            continue
        rule = load_yaml_model(path, _KINDS[kind])
        _check(path, text, rule)
        if rule.id in seen:
            raise RuleFileError(f"{rule.id!r} is already defined in {seen[rule.id]}",
                                location=Location(str(path), line_of(text, ("id",)) or 1, "id"))
        seen[rule.id] = path
        rules.append(rule)
    return rules


def load_sequence_rules(rules_dir: Path) -> list[SequenceRule]:
    return _load_dir(rules_dir, "sequence")


def load_progression_rules(rules_dir: Path) -> list[TacticProgressionRule]:
    return _load_dir(rules_dir, "tactic_progression")


def load_risk_rules(rules_dir: Path, taken: dict[str, str] | None = None) -> list[RiskThresholdRule]:
    """``<rules dir>/risk/*.y*ml``: one ``risk_threshold`` rule a file; ``taken``: ids of other kinds
    (id -> where), which a risk rule may not reuse."""
    rules: list[RiskThresholdRule] = []
    seen: dict[str, str] = dict(taken or {})
    for path in sorted((rules_dir / "risk").glob("*.y*ml")):
        text = path.read_text()
        found = _kind_of(path, text)
        if found is not None and found != "risk_threshold":  # no kind at all: the model says it is required
            raise _problem(path, text, ("kind",), f"expected risk_threshold, got {found!r}")
        rule = load_yaml_model(path, RiskThresholdRule)
        _check_matcher(path, text, ("signals",), rule.signals)
        if rule.id in seen:
            raise RuleFileError(f"{rule.id!r} is already defined in {seen[rule.id]}",
                                location=Location(str(path), line_of(text, ("id",)) or 1, "id"))
        seen[rule.id] = str(path)
        rules.append(rule)
    return rules


def load_ruleset(rules_dir: Path | str, sigma_paths: Iterable[Path | str] = ()) -> RuleSet:
    """Every correlation rule the job runs. Ids are unique across kinds (they key the state)."""
    rules_dir = Path(rules_dir)
    ruleset = RuleSet(
        sequences=load_sequence_rules(rules_dir),
        progressions=load_progression_rules(rules_dir),
        correlations=load_sigma_correlations([rules_dir / "correlations"], [Path(p) for p in sigma_paths]),
    )
    seen: dict[str, str] = {}
    for rule in [*ruleset.sequences, *ruleset.progressions]:
        seen[rule.id] = f"{rules_dir / 'sequences'} ({rule.kind})"
    for corr in ruleset.correlations:
        if corr.id in seen:
            path, _, line = corr.source.rpartition(":")  # source is "file:line"
            where = Location(path, int(line), "id") if path and line.isdigit() else Location(corr.source, field="id")
            raise RuleFileError(f"{corr.id!r} is already defined in {seen[corr.id]}", location=where)
        seen[corr.id] = corr.source
    ruleset.risks = load_risk_rules(rules_dir, seen)
    return ruleset
