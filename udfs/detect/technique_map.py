"""Technique maps: a field's value (e.g. a process image name) directly names ATT&CK techniques."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.event import Threat

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


class RuleFileError(ValueError):
    """A rule file that cannot load: names the file, line and field."""


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


def _line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """Best effort: the line of the YAML node at ``path`` (keys and list indexes)."""
    try:
        node = yaml.compose(text)
        for part in path:
            if node is None:
                return None
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                break
        return node.start_mark.line + 1 if node is not None else None
    except yaml.YAMLError:
        return None


def load_technique_map(path: Path) -> TechniqueMap:
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise RuleFileError(f"{path}:{line}: not valid YAML: {exc}") from None
    try:
        parsed = TechniqueMapFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(text, loc) or "?"
        field = ".".join(str(p) for p in loc)
        raise RuleFileError(f"{path}:{line}: field {field}: {err['msg']}") from None
    index: dict[str, TechniqueMapEntry] = {}
    for entry in parsed.entries:
        for name in entry.match:
            index[name.lower()] = entry
    return TechniqueMap(parsed.id, parsed.field, index)
