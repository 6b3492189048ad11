"""Load the correlation rule packs under a rules directory."""

from __future__ import annotations

from pathlib import Path

from schemas.rules import SequenceRule
from udfs.rulefile import RuleFileError, load_yaml_model


def load_sequence_rules(rules_dir: Path) -> list[SequenceRule]:
    rules: list[SequenceRule] = []
    seen: dict[str, Path] = {}
    for path in sorted((rules_dir / "sequences").glob("*.y*ml")):
        rule = load_yaml_model(path, SequenceRule)
        if rule.id in seen:
            raise RuleFileError(f"{path}:1: field id: {rule.id!r} is already defined in {seen[rule.id]}")
        seen[rule.id] = path
        rules.append(rule)
    return rules
