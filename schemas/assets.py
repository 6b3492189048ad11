"""The asset inventory file (``--assets PATH``): hosts with their fixed addresses and criticality,
and people with every identifier they appear under in logs."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the host name alerts use")
    aliases: list[str] = Field(default_factory=list, description="other spellings: FQDN, NetBIOS, asset tag")
    ips: list[str] = Field(default_factory=list, description="fixed addresses (servers, reserved DHCP)")
    criticality: int | None = Field(default=None, ge=0, le=10)
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)

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
    privileged: bool | None = None


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^asset_inventory$")
    assets: list[Asset] = Field(default_factory=list)
    identities: list[Identity] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        owner_of_ip: dict[str, str] = {}
        for asset in self.assets:
            for ip in asset.ips:
                if owner_of_ip.setdefault(ip, asset.name) != asset.name:
                    raise ValueError(f"ip {ip} is listed for both {owner_of_ip[ip]} and {asset.name}")
        return self
