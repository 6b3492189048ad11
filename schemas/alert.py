"""A correlated, scored alert: what the SOC analyst reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ALERT_SCHEMA_VERSION = 1


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: str
    timestamp_ms: int
    event_id: str | None = None
    raw_sha256: str
    source_format: str | None = None
    rule_id: str
    techniques: list[str]
    tactics: list[str] = Field(default_factory=list)
    host: str | None = None
    user: str | None = None
    asset_criticality: int | None = None


class ScoreFactor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    weight: float = Field(description="multiplier applied to the running score")
    reason: str


class Severity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=0, le=100)
    label: Literal["informational", "low", "medium", "high", "critical"]
    factors: list[ScoreFactor]


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = ALERT_SCHEMA_VERSION
    id: str = Field(description="deterministic over rule, entity and evidence: replays mint no duplicates")
    rule_id: str
    rule_title: str
    entity_type: Literal["host", "user"]
    entity: str
    host: str | None = None
    techniques: list[str] = Field(description="in the order the sequence observed them")
    tactics: list[str]
    first_seen_ms: int
    last_seen_ms: int
    evidence: list[Evidence]
    severity: Severity
