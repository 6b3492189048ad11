"""Load the suppression pack (``<rules dir>/suppressions/*.yaml``), failing with file, line and field.

A file holds one rule (``kind: suppression`` at the top) or several (``suppressions: [...]``). Ids are
unique across the pack. Which rules are active is decided here too: a rule past its ``expires`` day
(UTC) or with ``enabled: false`` is loaded (so ``ttpflow rules check`` can list it) but not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.suppression import SuppressionFile, SuppressionRule
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of

SUPPRESSION_DIR = "suppressions"


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: ``expires: 2099-13-01`` reaches pydantic as text, which says
    which field and line is wrong (PyYAML's own date parsing raises a bare ValueError)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class LoadedRule:
    rule: SuppressionRule
    path: str
    line: int | None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def today_utc() -> date:
    return datetime.now(UTC).date()


def is_expired(rule: SuppressionRule, today: date | None = None) -> bool:
    """Inactive after its ``expires`` day: the day itself still counts (UTC)."""
    return (today or today_utc()) > rule.expires


def suppression_files(rules_dir: Path | str | None) -> list[Path]:
    folder = Path(rules_dir) / SUPPRESSION_DIR if rules_dir else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))


def _validate(path: Path, text: str, raw: Any) -> list[tuple[SuppressionRule, int | None]]:
    single = isinstance(raw, dict) and "kind" in raw
    try:
        if single:
            return [(SuppressionRule.model_validate(raw), line_of(text, ()))]
        rules = SuppressionFile.model_validate(raw).suppressions
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(document)"
        message = err["msg"]
        if not single and not isinstance(raw, dict):
            message = "expected a suppression rule (kind: suppression) or a mapping with suppressions: [...]"
        raise RuleFileError(message, location=Location(str(path), line_of(text, loc), field)) from None
    return [(rule, line_of(text, ("suppressions", i))) for i, rule in enumerate(rules)]


def load_file(path: Path) -> list[LoadedRule]:
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleFileError(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                            location=Location(str(path), mark.line + 1 if mark else None)) from None
    return [LoadedRule(rule, str(path), line) for rule, line in _validate(path, text, raw)]


def load_suppressions(rules_dir: Path | str | None) -> list[LoadedRule]:
    """Every rule of the pack, active or not, in file order."""
    out: list[LoadedRule] = []
    seen: dict[str, LoadedRule] = {}
    for path in suppression_files(rules_dir):
        for loaded in load_file(path):
            first = seen.get(loaded.rule.id)
            if first is not None:
                raise RuleFileError(f"suppression id {loaded.rule.id!r} is used twice (first at {first.where})",
                                    location=Location(str(path), loaded.line, "id"))
            seen[loaded.rule.id] = loaded
            out.append(loaded)
    return out


def active(rules: list[LoadedRule], today: date | None = None) -> tuple[list[LoadedRule], list[LoadedRule]]:
    """(applied, not applied: expired or disabled)."""
    day = today or today_utc()
    on = [r for r in rules if r.rule.enabled and not is_expired(r.rule, day)]
    return on, [r for r in rules if r not in on]
