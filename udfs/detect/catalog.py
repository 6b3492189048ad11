"""The compact ATT&CK catalog (built by scripts/build_attack_catalog.py) and lookups on it.

Besides plain lookups it resolves the technique ids and tactics rules carry to ids the catalog knows:
revoked ids to their successor, and ATT&CK v19 ids / tactics (SigmaHQ moved to v19 before the STIX
bundle we build from) through ``rules/attack/v19_tag_migration.json``. Nothing is dropped: an id the
catalog cannot place is kept as given and reported by the caller as a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "rules" / "attack" / "catalog.json"
DEFAULT_V19_TABLE = DEFAULT_CATALOG.with_name("v19_tag_migration.json")

_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class Resolution:
    """One technique id or tactic as a rule tagged it, and what the catalog makes of it."""

    given: str
    resolved: str  # the catalog's id / tactic (== given when nothing changed or nothing is known)
    note: str | None = None  # why it changed, or why it could not be placed
    known: bool = True


@dataclass(frozen=True)
class Catalog:
    attack_version: str
    tactic_order: tuple[str, ...]
    techniques: dict[str, dict[str, Any]]
    tactics: dict[str, dict[str, Any]] = field(default_factory=dict)
    v19_techniques: dict[str, str] = field(default_factory=dict)
    v19_tactics: dict[str, str] = field(default_factory=dict)

    def known(self, technique_id: str) -> bool:
        return technique_id in self.techniques

    def name(self, technique_id: str) -> str | None:
        entry = self.techniques.get(technique_id)
        return entry["name"] if entry else None

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

    def order_tactics(self, tactics: set[str] | list[str]) -> list[str]:
        return sorted(set(tactics), key=lambda t: (self.tactic_rank(t), t))

    def resolve_technique(self, technique_id: str) -> Resolution:
        tid = technique_id.strip().upper()
        entry = self.techniques.get(tid)
        if entry is not None:
            successor = entry.get("revoked_by")
            if successor:
                return Resolution(
                    tid, successor, f"{tid} is revoked in ATT&CK {self.attack_version}; replaced by {successor}"
                )
            if entry.get("deprecated"):
                succ = ", ".join(entry.get("successors") or []) or "none named"
                return Resolution(
                    tid, tid, f"{tid} is deprecated in ATT&CK {self.attack_version} (successors: {succ}); kept"
                )
            return Resolution(tid, tid)
        mapped = self.v19_techniques.get(tid)
        if mapped:
            return Resolution(
                tid,
                mapped,
                f"{tid} (ATT&CK v19) mapped to {mapped} (ATT&CK {self.attack_version}) by the v19 tag table",
            )
        if "." in tid and tid.split(".", 1)[0] in self.techniques:
            return Resolution(
                tid,
                tid,
                f"{tid}: sub-technique unknown to ATT&CK {self.attack_version}; kept, tactics from its parent",
                known=False,
            )
        return Resolution(tid, tid, f"{tid}: unknown to ATT&CK {self.attack_version}; kept as given", known=False)

    def resolve_tactic(self, tactic: str) -> Resolution:
        name = tactic.strip().lower().replace("_", "-")
        if name in self.tactic_order:
            return Resolution(name, name)
        mapped = self.v19_tactics.get(name)
        if mapped:
            return Resolution(name, mapped, f"tactic {name} (ATT&CK v19) mapped to {mapped}")
        return Resolution(name, name, f"tactic {name}: unknown to ATT&CK {self.attack_version}; kept", known=False)


def is_technique_id(text: str) -> bool:
    return bool(_TECHNIQUE.match(text.strip().upper()))


def load_catalog(path: Path = DEFAULT_CATALOG, v19_table: Path | None = None) -> Catalog:
    data = json.loads(path.read_text())
    table_path = v19_table or path.with_name(DEFAULT_V19_TABLE.name)
    v19: dict[str, Any] = json.loads(table_path.read_text()) if table_path.exists() else {}
    return Catalog(
        attack_version=str(data["attack_version"]),
        tactic_order=tuple(data["tactic_order"]),
        techniques=data["techniques"],
        tactics=data.get("tactics", {}),
        v19_techniques={k: v["v18"] for k, v in v19.get("techniques", {}).items()},
        v19_tactics=dict(v19.get("tactics", {})),
    )


@cache
def default_catalog() -> Catalog:
    return load_catalog()
