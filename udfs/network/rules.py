"""Load the network behaviour rules (``<rules dir>/network/*.yaml``), failing with file, line, field."""

from __future__ import annotations

from pathlib import Path

from schemas.network import NetworkRule
from udfs.detect.catalog import default_catalog
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of, load_yaml_model


def load_network_rules(rules_dir: Path | str | None) -> list[NetworkRule]:
    if rules_dir is None or not (Path(rules_dir) / "network").is_dir():
        return []
    rules: dict[str, NetworkRule] = {}
    catalog = default_catalog()
    for path in sorted((Path(rules_dir) / "network").glob("*.y*ml")):
        rule = load_yaml_model(path, NetworkRule)
        text = path.read_text()
        problems = rule.problems() + [
            (("techniques", str(i)), f"unknown ATT&CK technique {tid!r}")
            for i, tid in enumerate(rule.techniques) if not catalog.resolve_technique(tid).known
        ]
        for loc, message in problems:
            key = tuple(int(p) if p.isdigit() else p for p in loc)
            raise RuleFileError(message, location=Location(str(path), line_of(text, key), ".".join(loc)))
        if rule.id in rules:
            raise RuleFileError(f"rule id {rule.id!r} is used twice",
                                location=Location(str(path), line_of(text, ("id",)), "id"))
        rules[rule.id] = rule
    return list(rules.values())
