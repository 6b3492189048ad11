"""Technique maps: a field's value (e.g. a process image name) directly names ATT&CK techniques.

A map applies to the event kinds it names (by default, for a ``process.*`` field, process creation:
:data:`DEFAULT_MAP_EVENT_KINDS`; for any other field every event), each entry to its own kinds when it
names them, so that ``powershell.exe`` means T1059.001 where PowerShell starts, not on every image
load, registry write or pipeline event of a PowerShell process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.rules import DEFAULT_MAP_EVENT_KINDS, TechniqueMapEntry, TechniqueMapFile
from udfs.detect.event_kinds import KindFilter
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of, load_yaml_model

__all__ = [
    "DEFAULT_MAP_EVENT_KINDS", "MapEntry", "RuleFileError", "TechniqueMap", "TechniqueMapEntry", "TechniqueMapFile",
    "load_technique_map",
]


@dataclass(frozen=True)
class MapEntry:
    techniques: list[str]
    level: str
    kinds: KindFilter


@dataclass(frozen=True)
class TechniqueMap:
    map_id: str
    field: str
    index: dict[str, tuple[MapEntry, ...]]  # lower-cased match value -> entries, in file order
    title: str = ""
    dedupe_ms: int | None = None

    @property
    def rule_id(self) -> str:
        return f"map:{self.map_id}"

    def lookup(self, event: dict[str, Any]) -> MapEntry | None:
        value: Any = event
        for part in self.field.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if not isinstance(value, str):
            return None
        entries = self.index.get(value.replace("\\", "/").rsplit("/", 1)[-1].lower())
        if entries is None:  # most events: no kind test at all
            return None
        return next((e for e in entries if e.kinds.matches(event)), None)


def load_technique_map(path: Path) -> TechniqueMap:
    parsed = load_yaml_model(path, TechniqueMapFile)
    index: dict[str, tuple[MapEntry, ...]] = {}
    kinds_of: dict[str, list[tuple[int, set[str]]]] = {}
    for i, raw in enumerate(parsed.entries):
        kinds = raw.event_kinds or parsed.kinds
        entry = MapEntry(raw.techniques, raw.level, KindFilter.of(kinds))
        for name in raw.match:
            key = name.lower()
            for j, theirs in kinds_of.get(key, []):
                # Two entries for one name must not both apply to an event: the second would never fire.
                if "any" in theirs or "any" in kinds or theirs & set(kinds):
                    raise RuleFileError(
                        f"{name!r} is already mapped by entry {j} for the same event kinds "
                        f"({', '.join(sorted(theirs & set(kinds)) or ['any'])})",
                        location=Location(str(path), line_of(path.read_text(), ("entries", i, "match")),
                                          f"entries.{i}.match"),
                    )
            kinds_of.setdefault(key, []).append((i, set(kinds)))
            index[key] = (*index.get(key, ()), entry)
    return TechniqueMap(parsed.id, parsed.field, index, parsed.rule_title, parsed.dedupe_ms)
