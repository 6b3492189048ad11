"""Technique maps: a field's value (e.g. a process image name) directly names ATT&CK techniques."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.event import Threat
from udfs.rulefile import RuleFileError, load_yaml_model

__all__ = ["RuleFileError", "TechniqueMap", "load_technique_map"]

LEVELS = ("informational", "low", "medium", "high", "critical")


class TechniqueMapEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: list[str] = Field(min_length=1)
    techniques: list[str] = Field(min_length=1)
    level: str = "medium"

    @field_validator("techniques")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return Threat(technique_ids=ids).technique_ids

    @field_validator("level")
    @classmethod
    def _level(cls, level: str) -> str:
        if level not in LEVELS:
            raise ValueError(f"expected one of {', '.join(LEVELS)}")
        return level


class TechniqueMapFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^technique_map$")
    id: str
    field: str = Field(description="dotted path into the event, e.g. process.name")
    entries: list[TechniqueMapEntry]


@dataclass(frozen=True)
class TechniqueMap:
    map_id: str
    field: str
    index: dict[str, TechniqueMapEntry]  # lower-cased match value -> entry

    def lookup(self, event: dict[str, Any]) -> TechniqueMapEntry | None:
        value: Any = event
        for part in self.field.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if not isinstance(value, str):
            return None
        base = value.replace("\\", "/").rsplit("/", 1)[-1].lower()
        return self.index.get(base)


def load_technique_map(path: Path) -> TechniqueMap:
    parsed = load_yaml_model(path, TechniqueMapFile)
    index: dict[str, TechniqueMapEntry] = {}
    for entry in parsed.entries:
        for name in entry.match:
            index[name.lower()] = entry
    return TechniqueMap(parsed.id, parsed.field, index)
