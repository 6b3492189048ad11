"""Rule files: correlation sequences over ATT&CK techniques and tactics."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str | int) -> int:
    """``15m`` -> 900000. Integers are taken as milliseconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 90s, 15m, 2h or 1d, got {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


class SequenceStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    techniques: list[str] = Field(default_factory=list, description="a parent id matches its sub-techniques")
    tactics: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)

    @field_validator("techniques")
    @classmethod
    def _upper(cls, ids: list[str]) -> list[str]:
        return [t.strip().upper() for t in ids]

    def model_post_init(self, _context: object) -> None:
        if not (self.techniques or self.tactics or self.rule_ids):
            raise ValueError("a step needs at least one of techniques, tactics or rule_ids")


class SequenceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sequence"]
    id: str = Field(min_length=1)
    title: str
    group_by: Literal["host", "user"] = "host"
    within: str | int
    level: Literal["informational", "low", "medium", "high", "critical"] = "high"
    steps: list[SequenceStep] = Field(min_length=2)

    @field_validator("within")
    @classmethod
    def _within(cls, value: str | int) -> str | int:
        duration_ms(value)
        return value

    @property
    def within_ms(self) -> int:
        return duration_ms(self.within)
