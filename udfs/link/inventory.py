"""The asset inventory as lookups: ip -> host, spelling -> host, identifier -> user, host -> criticality."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from schemas.assets import Inventory
from udfs.link.canonical import canonical_host, canonical_user, user_alias
from udfs.rulefile import load_yaml_model


@dataclass(frozen=True)
class InventoryIndex:
    host_of_ip: dict[str, str] = field(default_factory=dict)
    host_of_alias: dict[str, str] = field(default_factory=dict)
    user_of_alias: dict[str, str] = field(default_factory=dict)
    criticality: dict[str, int] = field(default_factory=dict)

    def host(self, name: str | None) -> str | None:
        """The inventory's name for a host spelling, else the canonical spelling."""
        if not name:
            return None
        return self.host_of_alias.get(name.strip().lower()) or canonical_host(name)

    def user(self, *identifiers: str | None) -> str | None:
        for ident in identifiers:
            alias = user_alias(ident)
            if alias and alias in self.user_of_alias:
                return self.user_of_alias[alias]
        return None


def index_inventory(inventory: Inventory) -> InventoryIndex:
    index = InventoryIndex()
    for asset in inventory.assets:
        name = canonical_host(asset.name) or asset.name.lower()
        for spelling in [asset.name, *asset.aliases]:
            index.host_of_alias[spelling.strip().lower()] = name
        for ip in asset.ips:
            index.host_of_ip[ip] = name
        if asset.criticality is not None:
            index.criticality[name] = asset.criticality
    for identity in inventory.identities:
        user = canonical_user(identity.user) or identity.user.lower()
        for ident in [identity.user, *identity.aliases]:
            alias = user_alias(ident)
            if alias:
                index.user_of_alias[alias] = user
    return index


def load_inventory(path: Path | str | None) -> InventoryIndex:
    """The inventory at ``path`` (errors name file, line and field), or an empty one."""
    if not path:
        return InventoryIndex()
    return index_inventory(load_yaml_model(Path(path), Inventory))
