"""The role x technique table as lookups: (role, technique) -> the entry that weighs it.

The most specific entry wins: the technique itself, then its parent (T1027 covers T1027.002), then
the heaviest entry for a tactic of the technique (the catalog's tactics). An entry listed twice for
one (role, technique) or (role, tactic) counts the first time.
Loaded from ``<rules dir>/scoring/role_techniques.yaml``; a rules dir without it weighs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from schemas.scoring import RoleTechniqueEntry, RoleTechniques
from udfs.detect.catalog import Catalog, default_catalog
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of, load_yaml_model

ROLE_TECHNIQUES_FILE = Path("scoring") / "role_techniques.yaml"


@dataclass(frozen=True)
class RoleWeight:
    weight: float
    reason: str
    matched: str  # the technique id or tactic the entry names


@dataclass
class RoleTable:
    by_technique: dict[tuple[str, str], RoleWeight] = field(default_factory=dict)
    by_tactic: dict[tuple[str, str], RoleWeight] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=default_catalog)
    roles: frozenset[str] = frozenset()
    _cache: dict[tuple[str, str], RoleWeight | None] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[RoleTechniqueEntry], catalog: Catalog | None = None) -> RoleTable:
        table = cls(catalog=catalog or default_catalog())
        for entry in entries:
            for role in entry.roles:
                for tid in entry.techniques:
                    table.by_technique.setdefault((role, tid), RoleWeight(entry.weight, entry.reason, tid))
                for tactic in entry.tactics:
                    table.by_tactic.setdefault((role, tactic), RoleWeight(entry.weight, entry.reason, tactic))
        table.roles = frozenset(r for r, _ in [*table.by_technique, *table.by_tactic])
        return table

    def weigh(self, role: str, technique: str) -> RoleWeight | None:
        """The entry for ``technique`` on a host of ``role``, or None (neutral). Cached: few pairs recur."""
        key = (role, technique)
        if key in self._cache:
            return self._cache[key]
        found = self.by_technique.get(key)
        if found is None and "." in technique:
            found = self.by_technique.get((role, technique.split(".", 1)[0]))
        if found is None:
            for tactic in self.catalog.tactics_for(technique):
                candidate = self.by_tactic.get((role, tactic))
                if candidate is not None and (found is None or candidate.weight > found.weight):
                    found = candidate
        if len(self._cache) < 65_536:
            self._cache[key] = found
        return found

    def weigh_tactic(self, role: str, tactic: str) -> RoleWeight | None:
        """For a hit with tactics but no technique (a rule tagged with a tactic only)."""
        return self.by_tactic.get((role, tactic))


def load_role_table(rules_dir: Path | str | None, catalog: Catalog | None = None) -> RoleTable:
    """The table of ``rules_dir`` (unknown techniques and tactics fail with file, line, field)."""
    catalog = catalog or default_catalog()
    path = Path(rules_dir) / ROLE_TECHNIQUES_FILE if rules_dir else None
    if path is None or not path.is_file():
        return RoleTable(catalog=catalog)
    doc = load_yaml_model(path, RoleTechniques)
    text = path.read_text()
    for i, entry in enumerate(doc.entries):
        for j, tid in enumerate(entry.techniques):
            if not catalog.resolve_technique(tid).known:
                raise RuleFileError(f"unknown ATT&CK technique {tid!r}",
                                    location=Location(str(path), line_of(text, ("entries", i, "techniques", j)),
                                                      f"entries.{i}.techniques.{j}"))
        for j, tactic in enumerate(entry.tactics):
            if tactic not in catalog.tactic_order:
                raise RuleFileError(f"unknown tactic {tactic!r}; one of {', '.join(catalog.tactic_order)}",
                                    location=Location(str(path), line_of(text, ("entries", i, "tactics", j)),
                                                      f"entries.{i}.tactics.{j}"))
    return RoleTable.of(doc.entries, catalog)
