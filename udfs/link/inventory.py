"""The asset inventory as lookups: ip -> host, spelling -> host, identifier -> user, host -> criticality,
and the context scoring reads: host -> :class:`AssetContext`, user -> :class:`IdentityContext`.

``--assets PATH`` is one file or a directory of them (every ``*.yaml``, ``*.yml``, ``*.json`` and
``*.csv`` in it, merged, in name order):

- YAML or JSON: the :class:`schemas.assets.Inventory` document (``kind: asset_inventory``);
- CSV with a ``name`` column: one host a row (columns: the :class:`schemas.assets.Asset` fields);
- CSV with a ``user`` column: one identity a row (the :class:`schemas.assets.Identity` fields).

In CSV cells, lists (aliases, ips, tags, data_sensitivity, usual_hosts, usual_countries) are
separated by ``;``, booleans are true/false (yes/no, 1/0), and an empty cell is "not known". Every
problem names the file, the line and the field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.assets import Asset, ChangeWindow, Identity, Inventory
from udfs.errors import Location
from udfs.link.canonical import canonical_host, canonical_user, user_alias
from udfs.rulefile import RuleFileError, load_yaml_model

INVENTORY_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
_CSV_LISTS = frozenset({"aliases", "ips", "tags", "data_sensitivity", "usual_hosts", "usual_countries"})


@dataclass(frozen=True)
class AssetContext:
    """What scoring knows of a host (None: not known)."""

    name: str
    role: str | None = None
    criticality: int | None = None
    internet_facing: bool | None = None
    data_sensitivity: tuple[str, ...] = ()
    owner: str | None = None
    environment: str | None = None
    tier: str | None = None  # the inventory's own tier only; udfs.score.assurance infers one from the role


@dataclass(frozen=True)
class IdentityContext:
    """What scoring knows of a person. ``tier`` is the directory's tier, else tier1 for ``privileged: true``."""

    user: str
    tier: str | None = None
    service_account: bool | None = None
    mfa_enrolled: bool | None = None
    usual_hosts: frozenset[str] = frozenset()
    usual_countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChangeWindowContext:
    """An approved change window (:class:`schemas.assets.ChangeWindow`) on one host or user, times in epoch ms."""

    id: str
    start_ms: int
    end_ms: int
    ticket: str
    host: str | None = None  # the inventory's (canonical) host name
    user: str | None = None  # the inventory's (canonical) user name
    reason: str | None = None

    def entity(self) -> str:
        """Its key in :attr:`InventoryIndex.change_windows`: ``host:<name>`` or ``user:<name>``."""
        return f"host:{self.host}" if self.host else f"user:{self.user}"


@dataclass(frozen=True)
class InventoryIndex:
    host_of_ip: dict[str, str] = field(default_factory=dict)
    host_of_alias: dict[str, str] = field(default_factory=dict)
    user_of_alias: dict[str, str] = field(default_factory=dict)
    criticality: dict[str, int] = field(default_factory=dict)
    assets: dict[str, AssetContext] = field(default_factory=dict)  # by the host name alerts use
    identities: dict[str, IdentityContext] = field(default_factory=dict)  # by the user name alerts use
    # ``host:<name>`` / ``user:<name>`` -> its approved change windows (udfs.score.factors.change_window)
    change_windows: dict[str, tuple[ChangeWindowContext, ...]] = field(default_factory=dict)

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


def _asset_context(name: str, asset: Asset) -> AssetContext:
    return AssetContext(name=name, role=asset.role, criticality=asset.criticality,
                        internet_facing=asset.internet_facing, data_sensitivity=tuple(asset.data_sensitivity),
                        owner=asset.owner, environment=asset.environment, tier=asset.tier)


def _identity_context(user: str, identity: Identity, host_of_alias: dict[str, str]) -> IdentityContext:
    tier = identity.privilege_tier or ("tier1" if identity.privileged else None)
    hosts = frozenset(host_of_alias.get(h.strip().lower()) or canonical_host(h) or h.lower()
                      for h in identity.usual_hosts)
    return IdentityContext(user=user, tier=tier, service_account=identity.service_account,
                           mfa_enrolled=identity.mfa_enrolled, usual_hosts=hosts,
                           usual_countries=frozenset(identity.usual_countries))


def change_window_context(window: ChangeWindow, index: InventoryIndex,
                          window_id: str | None = None) -> ChangeWindowContext:
    host = (index.host(window.host) or window.host.lower()) if window.host else None
    user = (index.user(window.user) or canonical_user(window.user) or window.user.lower()) if window.user else None
    return ChangeWindowContext(id=window_id or window.window_id(), start_ms=window.start, end_ms=window.end,
                               ticket=window.ticket, host=host, user=user, reason=window.reason)


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
        index.assets[name] = _asset_context(name, asset)
    for identity in inventory.identities:
        user = canonical_user(identity.user) or identity.user.lower()
        for ident in [identity.user, *identity.aliases]:
            alias = user_alias(ident)
            if alias:
                index.user_of_alias[alias] = user
        index.identities[user] = _identity_context(user, identity, index.host_of_alias)
    for window in inventory.change_windows:
        ctx = change_window_context(window, index)
        index.change_windows[ctx.entity()] = (*index.change_windows.get(ctx.entity(), ()), ctx)
    return index


def _csv_cell(column: str, text: str) -> Any:
    if column in _CSV_LISTS:
        return [part.strip() for part in text.split(";") if part.strip()]
    return text


def _csv_row(path: Path, model: type[BaseModel], header: list[str], row: list[str], line: int) -> Any:
    if len(row) > len(header):
        raise RuleFileError(f"{len(row)} cells for {len(header)} columns", location=Location(str(path), line))
    doc = {col: _csv_cell(col, cell.strip()) for col, cell in zip(header, row, strict=False) if cell.strip()}
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(row)"
        raise RuleFileError(err["msg"], location=Location(str(path), line, where)) from None


def load_csv_inventory(path: Path) -> Inventory:
    """A CSV of hosts (a ``name`` column) or of identities (a ``user`` column)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        kinds = [k for k in ("name", "user") if k in header]
        if len(kinds) != 1:
            raise RuleFileError("expected a header with a 'name' column (hosts) or a 'user' column (identities)",
                                location=Location(str(path), 1))
        model: type[BaseModel] = Asset if kinds[0] == "name" else Identity
        for column in header:
            if column not in model.model_fields:
                raise RuleFileError(f"unknown column {column!r}; {model.__name__} columns: "
                                    f"{', '.join(model.model_fields)}", location=Location(str(path), 1, column))
        rows = [_csv_row(path, model, header, row, reader.line_num) for row in reader if any(c.strip() for c in row)]
    try:
        if model is Asset:
            return Inventory(kind="asset_inventory", assets=rows)
        return Inventory(kind="asset_inventory", identities=rows)
    except ValidationError as exc:
        raise RuleFileError(exc.errors()[0]["msg"], location=Location(str(path))) from None


def _load_file(path: Path) -> Inventory:
    if path.suffix.lower() == ".csv":
        return load_csv_inventory(path)
    return load_yaml_model(path, Inventory)  # JSON is YAML: one loader, and errors keep their lines


def inventory_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in INVENTORY_SUFFIXES)
    if not files:
        raise RuleFileError(f"no inventory files ({', '.join(INVENTORY_SUFFIXES)}) in this directory",
                            location=Location(str(path)))
    return files


def load_inventory_files(path: Path) -> Inventory:
    """The file at ``path``, or every inventory file of the directory ``path``, as one inventory."""
    merged = Inventory(kind="asset_inventory")
    owner_of_ip: dict[str, str] = {}
    for file in inventory_files(path):
        part = _load_file(file)
        for asset in part.assets:
            for ip in asset.ips:
                if owner_of_ip.setdefault(ip, asset.name) != asset.name:
                    raise RuleFileError(f"ip {ip} is listed for both {owner_of_ip[ip]} and {asset.name}",
                                        location=Location(str(file), field="ips"))
        merged.assets.extend(part.assets)
        merged.identities.extend(part.identities)
        merged.change_windows.extend(part.change_windows)
    return merged


def load_inventory(path: Path | str | None) -> InventoryIndex:
    """The inventory at ``path`` (a file or a directory; errors name file, line and field), or an empty one."""
    if not path:
        return InventoryIndex()
    return index_inventory(load_inventory_files(Path(path)))
