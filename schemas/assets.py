"""The asset inventory and identity directory (``--assets PATH``): hosts with their fixed addresses and
business context, and people with every identifier they appear under in logs and their privilege.

Files are YAML or JSON (``kind: asset_inventory``, the document below) or CSV (one row per host, or one
row per identity: see :mod:`udfs.link.inventory`). Every field added after the first version is
optional, so older inventory files load unchanged. Scoring reads the context
(:mod:`udfs.score`, docs/scoring.md).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

# Criticality words, as asset registers and the seed's plain JSON records write them, on the 0..10
# scale (5 is neutral for scoring). "high" is 8 because the seed's finance workstation (a high-value
# user machine, not a domain controller) carries 8; "critical" is the top: domain controllers.
CRITICALITY_WORDS: dict[str, int] = {"low": 2, "medium": 5, "high": 8, "critical": 10}


def criticality_value(value: Any) -> int:
    """0..10 from an integer, a digit string or a word (low, medium, high, critical; any case).
    Raises ValueError saying what is expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected 0..10 or one of {', '.join(CRITICALITY_WORDS)}, got {value!r}")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in CRITICALITY_WORDS:
            return CRITICALITY_WORDS[text]
        if text.isascii() and text.isdigit():  # str.isdigit() also takes '²', which int() refuses
            value = int(text)
    if isinstance(value, int) and 0 <= value <= 10:
        return value
    raise ValueError(f"expected 0..10 or one of {', '.join(CRITICALITY_WORDS)}, got {value!r}")


def _criticality(value: Any) -> Any:
    return None if value is None else criticality_value(value)


def _token(value: Any) -> Any:
    """``Domain Controller``, ``domain-controller`` -> ``domain_controller``: one spelling for lookups."""
    if isinstance(value, str):
        return "_".join(value.strip().lower().replace("-", " ").split())
    return value


def _tokens(value: Any) -> Any:
    return [_token(v) for v in value] if isinstance(value, list) else value


def _tier(value: Any) -> Any:
    """``tier0``, ``Tier 0``, ``0`` -> ``tier0``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"tier{value}"
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
        return f"tier{text}" if text.isdigit() else text
    return value


Criticality = Annotated[int | None, BeforeValidator(_criticality), Field(ge=0, le=10)]
Role = Annotated[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] | None, BeforeValidator(_token)]  # null: not known
Sensitivity = Literal["pci", "pii", "phi", "crown_jewel"]
Environment = Literal["prod", "staging", "dev", "test", "lab"]
Tier = Annotated[Literal["tier0", "tier1", "tier2"] | None, BeforeValidator(_tier)]


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the host name alerts use")
    aliases: list[str] = Field(default_factory=list, description="other spellings: FQDN, NetBIOS, asset tag")
    ips: list[str] = Field(default_factory=list, description="fixed addresses (servers, reserved DHCP)")
    criticality: Criticality = Field(
        default=None, description="0..10 (5 neutral), or low / medium / high / critical (2 / 5 / 8 / 10)"
    )
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    role: Role = Field(
        default=None,
        description="what the host is for: domain_controller, server, developer_workstation, workstation, kiosk, "
        "... (rules/scoring/role_techniques.yaml weighs techniques per role)",
    )
    internet_facing: bool | None = Field(default=None, description="exposure: reachable from the internet")
    data_sensitivity: Annotated[list[Sensitivity], BeforeValidator(_tokens)] = Field(
        default_factory=list, description="pci, pii, phi, crown_jewel (crown-jewel is accepted)"
    )
    environment: Annotated[Environment | None, BeforeValidator(_token)] = None
    tier: Tier = Field(
        default=None,
        description="the host's tier in the admin tier model (tier0 domain controllers ... tier2 workstations); "
        "unset: taken from the role where the role says it",
    )

    @field_validator("ips")
    @classmethod
    def _ips(cls, ips: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(ip.strip())) for ip in ips]


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, description="the user name alerts use")
    aliases: list[str] = Field(
        default_factory=list,
        description="UPNs, e-mail addresses, DOMAIN\\\\name, SIDs, Okta / Entra object ids, AWS principal ARNs",
    )
    privileged: bool | None = Field(default=None, description="privileged without a tier counts as tier1")
    privilege_tier: Tier = Field(
        default=None,
        description="tier0 (controls identity: domain / cloud admins), tier1 (servers), tier2 (workstations)",
    )
    service_account: bool | None = None
    mfa_enrolled: bool | None = None
    usual_hosts: list[str] = Field(default_factory=list, description="hosts this identity normally signs in on")
    usual_countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-2 codes it signs in from")

    @field_validator("usual_countries")
    @classmethod
    def _countries(cls, codes: list[str]) -> list[str]:
        out = [c.strip().upper() for c in codes]
        bad = [c for c in out if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"expected ISO 3166 alpha-2 country codes (US, DE), got {bad[0]!r}")
        return out


def _instant(value: Any) -> Any:
    """Epoch milliseconds from an integer (ms) or an ISO 8601 time (no zone: UTC)."""
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 time or epoch milliseconds, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected an ISO 8601 time (2026-05-01T22:00:00Z) or epoch milliseconds, "
                             f"got {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, datetime):  # YAML reads an unquoted time as a datetime
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    raise ValueError(f"expected an ISO 8601 time or epoch milliseconds, got {value!r}")


Instant = Annotated[int, BeforeValidator(_instant)]


class ChangeWindow(BaseModel):
    """An approved change on one host or one user (docs/scoring.md, ``change_window``): activity
    there between ``start`` and ``end`` is expected, which lowers its severity. The ticket is what
    makes it verified: a window without one is refused."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="unique per window; default <ticket>|<host or user>")
    host: str | None = Field(default=None, min_length=1)
    user: str | None = Field(default=None, min_length=1)
    start: Instant = Field(description="ISO 8601 time (no zone: UTC) or epoch ms")
    end: Instant
    ticket: str = Field(min_length=1, description="the change ticket that approved it (CHG0012345)")
    reason: str | None = None

    @model_validator(mode="after")
    def _one_entity(self) -> ChangeWindow:
        if (self.host is None) == (self.user is None):
            raise ValueError("expected exactly one of host or user")
        if self.end <= self.start:
            raise ValueError("expected end after start")
        return self

    def window_id(self) -> str:
        return self.id or f"{self.ticket}|{self.host or self.user}"


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^asset_inventory$")
    assets: list[Asset] = Field(default_factory=list)
    identities: list[Identity] = Field(default_factory=list)
    change_windows: list[ChangeWindow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        owner_of_ip: dict[str, str] = {}
        for asset in self.assets:
            for ip in asset.ips:
                if owner_of_ip.setdefault(ip, asset.name) != asset.name:
                    raise ValueError(f"ip {ip} is listed for both {owner_of_ip[ip]} and {asset.name}")
        return self
