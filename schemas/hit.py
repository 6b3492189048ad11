"""A technique hit: one event matched one detection (Sigma rule, technique map, or the event's own ids)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HIT_SCHEMA_VERSION = 1


class TechniqueHit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = HIT_SCHEMA_VERSION
    hit_id: str = Field(description="deterministic: raw_sha256 of the event + rule id")
    timestamp_ms: int
    rule_id: str
    rule_title: str
    rule_source: Literal["sigma", "technique_map", "event", "network"]
    level: Literal["informational", "low", "medium", "high", "critical"] = "medium"
    status: str | None = None
    techniques: list[str] = Field(
        default_factory=list,
        description="ATT&CK ids of the catalog's version, sub-techniques kept: a rule's revoked or "
        "ATT&CK v19 ids are mapped (see rule_techniques for the ids as the rule wrote them)",
    )
    tactics: list[str] = Field(
        default_factory=list,
        description="ATT&CK tactic short names, kill-chain order: the techniques' tactics and the "
        "rule's own tactic tags",
    )
    matched_fields: list[str] = Field(default_factory=list, description="rule fields whose test held")
    rule_techniques: list[str] | None = Field(
        default=None, description="Sigma only: technique ids as tagged in the rule (e.g. v19 T1685)"
    )
    tags: list[str] | None = Field(default=None, description="Sigma only: the rule's tags, all namespaces")
    host: str | None = None
    user: str | None = None
    details: dict[str, Any] | None = Field(
        default=None, description="network behaviour: what the rule saw (interval, jitter, count, bytes) and why"
    )
    risk: dict[str, Any] | None = Field(
        default=None, description="on signals: the hit's severity, the alert formula over this hit (docs/scoring.md)"
    )
    event: dict[str, Any]
