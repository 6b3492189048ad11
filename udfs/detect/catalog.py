"""The compact ATT&CK catalog (built by scripts/build_attack_catalog.py) and lookups on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "rules" / "attack" / "catalog.json"


@dataclass(frozen=True)
class Catalog:
    attack_version: str
    tactic_order: tuple[str, ...]
    techniques: dict[str, dict[str, Any]]

    def known(self, technique_id: str) -> bool:
        return technique_id in self.techniques

    def tactics_for(self, technique_id: str) -> list[str]:
        """Tactics of a technique; a sub-technique without its own falls back to its parent."""
        entry = self.techniques.get(technique_id)
        if entry is None and "." in technique_id:
            entry = self.techniques.get(technique_id.split(".", 1)[0])
        return list(entry["tactics"]) if entry else []

    def tactics_for_all(self, technique_ids: list[str]) -> list[str]:
        found = {t for tid in technique_ids for t in self.tactics_for(tid)}
        return [t for t in self.tactic_order if t in found]

    def tactic_rank(self, tactic: str) -> int:
        return self.tactic_order.index(tactic) if tactic in self.tactic_order else len(self.tactic_order)


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    data = json.loads(path.read_text())
    return Catalog(
        attack_version=str(data["attack_version"]),
        tactic_order=tuple(data["tactic_order"]),
        techniques=data["techniques"],
    )


@cache
def default_catalog() -> Catalog:
    return load_catalog()
