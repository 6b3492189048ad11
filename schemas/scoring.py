"""The role x technique table (``<rules dir>/scoring/role_techniques.yaml``): how much a technique
weighs on a host of a given role. T1027 on a developer workstation is what packers and build tools do;
exfiltration from a domain controller is never routine. See docs/scoring.md."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_ROLE = re.compile(r"^[a-z0-9_]+$")


class RoleTechniqueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(min_length=1, description="asset roles (schemas.assets.Asset.role), snake_case")
    techniques: list[str] = Field(default_factory=list, description="ATT&CK ids; a parent id covers its sub-techniques")
    tactics: list[str] = Field(default_factory=list, description="ATT&CK tactic short names: every technique of it")
    weight: float = Field(gt=0.2, le=2.0, description="below 1: routine on this role; above 1: alarming")
    reason: str = Field(min_length=10, max_length=240, description="one sentence: why, for the analyst")

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        out = ["_".join(r.strip().lower().replace("-", " ").split()) for r in roles]
        for role in out:
            if not _ROLE.match(role):
                raise ValueError(f"expected a role name like domain_controller, got {role!r}")
        return out

    @field_validator("techniques")
    @classmethod
    def _techniques(cls, ids: list[str]) -> list[str]:
        out = [t.strip().upper() for t in ids]
        for tid in out:
            if not _TECHNIQUE.match(tid):
                raise ValueError(f"expected an ATT&CK technique id like T1027 or T1027.002, got {tid!r}")
        return out

    @field_validator("tactics")
    @classmethod
    def _tactics(cls, names: list[str]) -> list[str]:
        return [t.strip().lower().replace("_", "-") for t in names]

    @model_validator(mode="after")
    def _one_kind(self) -> RoleTechniqueEntry:
        if bool(self.techniques) == bool(self.tactics):
            raise ValueError("give techniques or tactics (one of the two)")
        return self


class RoleTechniques(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^role_techniques$")
    entries: list[RoleTechniqueEntry] = Field(default_factory=list)
