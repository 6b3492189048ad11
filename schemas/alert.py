"""A correlated, scored alert: what the SOC analyst reads.

Schema version 2 (docs/scoring.md, "Alert schema"): every version-1 field keeps its name, type and
meaning; the new fields are optional. ``entity_type`` gains ``ip`` and ``cloud_principal``. A
version-1 alert validates as this model and :func:`upgrade_alert` turns its dict into version 2.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ALERT_SCHEMA_VERSION = 2
EntityType = Literal["host", "user", "ip", "cloud_principal"]


class EvidenceAuthentication(BaseModel):
    """The sign-in facts of an evidence event that scoring reads (schemas.event.Authentication)."""

    model_config = ConfigDict(extra="forbid")
    outcome: str | None = None
    mfa: bool | None = None
    method: str | None = None
    protocol: str | None = None
    logon_type: str | None = None
    risk_level: str | None = None
    ticket_encryption: str | None = None
    country: str | None = Field(default=None, description="source.geo.country_iso_code")
    # Identity-provider findings, kept only when true (schemas.event.Authentication has the sources).
    new_device: bool | None = None
    new_country: bool | None = None
    impossible_travel: bool | None = Field(default=None, description="Okta velocity or Entra impossibleTravel")
    threat_suspected: bool | None = None
    token_anomaly: bool | None = None
    unmanaged_device: bool | None = None
    root: bool | None = None
    sensitive_call: bool | None = None


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
    authentication: EvidenceAuthentication | None = Field(default=None, description="v2: authentication events only")


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
    base: int | None = Field(default=None, description="v2: the rule level's base; score = base x every weight")


class AssetInfo(BaseModel):
    """What the inventory says of a host in the alert (schemas.assets.Asset)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    role: str | None = None
    criticality: int | None = None
    internet_facing: bool | None = None
    data_sensitivity: list[str] = Field(default_factory=list)
    owner: str | None = None
    environment: str | None = None
    tier: str | None = Field(default=None, description="the inventory's tier for the host (tier0 / tier1 / tier2)")


class IdentityInfo(BaseModel):
    """What the directory says of a user in the alert (schemas.assets.Identity)."""

    model_config = ConfigDict(extra="forbid")
    user: str
    privilege_tier: str | None = None
    service_account: bool | None = None
    mfa_enrolled: bool | None = None


class AlertContext(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assets: list[AssetInfo] = Field(default_factory=list)
    identities: list[IdentityInfo] = Field(default_factory=list)


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = ALERT_SCHEMA_VERSION
    id: str = Field(description="deterministic over rule, entity and evidence: replays mint no duplicates")
    rule_id: str
    rule_title: str
    entity_type: EntityType
    entity: str
    host: str | None = None
    techniques: list[str] = Field(description="in the order the sequence observed them")
    tactics: list[str]
    first_seen_ms: int
    last_seen_ms: int
    evidence: list[Evidence]
    severity: Severity
    # v2, all optional: what the correlation knew, and what the inventory says of the entities.
    rule_kind: str | None = Field(default=None, description="sequence, tactic_progression, sigma:<type>, ...")
    group: dict[str, str] = Field(default_factory=dict, description="the group-by fields and their values")
    details: dict[str, Any] = Field(default_factory=dict, description="counts, thresholds, windows of the match")
    links: list[dict[str, Any]] = Field(default_factory=list, description="how evidence was tied to the entity")
    context: AlertContext | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: Any) -> Any:
        return upgrade_alert(data) if isinstance(data, dict) else data


def upgrade_alert(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-1 alert dict as version 2 (a new dict; a version-2 dict comes back as it was). Nothing
    is renamed or removed: the version changes, and the new fields take their empty defaults."""
    if doc.get("schema_version", ALERT_SCHEMA_VERSION) != 1:
        return doc
    return {**doc, "schema_version": ALERT_SCHEMA_VERSION}
