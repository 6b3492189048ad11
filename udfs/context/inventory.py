"""Kinds ``asset``, ``identity`` and ``change_window``: topic entries overlaid on the file inventory.

The overlay edits the job's :class:`udfs.link.inventory.InventoryIndex` in place (its dicts), so the
analyzer, the hit rows, the scorer and the suppressor, which share that one object, see an update on
their next lookup. Per key the topic wins over the file; a tombstone removes the topic's entry and
brings the file's back, if it had one. An alias or address two hosts claim belongs to the later one.

Keys: an asset's is its host name, an identity's its user name (both canonical, as the inventory
files give them), a change window's its id (:meth:`schemas.assets.ChangeWindow.window_id`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.assets import Asset, ChangeWindow, Identity
from udfs.context.live import LiveContext, register
from udfs.context.updates import ContextUpdate
from udfs.link.canonical import user_alias
from udfs.link.inventory import (
    AssetContext,
    ChangeWindowContext,
    IdentityContext,
    InventoryIndex,
    _asset_context,
    _identity_context,
    change_window_context,
)


def _invert(mapping: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for spelling, name in mapping.items():
        out[name].append(spelling)
    return dict(out)


class InventoryOverlay:
    """The file's entries (kept to come back on a tombstone) and what each topic entry added."""

    def __init__(self, index: InventoryIndex) -> None:
        self.index = index
        self.file_assets: dict[str, AssetContext] = dict(index.assets)
        self.file_criticality = dict(index.criticality)
        self.file_spellings = _invert(index.host_of_alias)
        self.file_ips = _invert(index.host_of_ip)
        self.file_identities: dict[str, IdentityContext] = dict(index.identities)
        self.file_user_aliases = _invert(index.user_of_alias)
        self.file_windows: dict[str, tuple[ChangeWindowContext, ...]] = dict(index.change_windows)
        self.host_keys: dict[str, tuple[list[str], list[str]]] = {}  # host -> its topic entry's spellings, ips
        self.user_keys: dict[str, list[str]] = {}  # user -> its topic entry's aliases
        self.windows: dict[str, ChangeWindowContext] = {}  # window id -> the topic's window
        self.windows_of: dict[str, dict[str, ChangeWindowContext]] = defaultdict(dict)  # entity -> id -> window

    # -- assets --------------------------------------------------------------------------------------

    def _drop_host(self, name: str) -> None:
        spellings, ips = self.host_keys.pop(name, None) or (self.file_spellings.get(name, []),
                                                             self.file_ips.get(name, []))
        for spelling in spellings:
            if self.index.host_of_alias.get(spelling) == name:
                del self.index.host_of_alias[spelling]
        for ip in ips:
            if self.index.host_of_ip.get(ip) == name:
                del self.index.host_of_ip[ip]
        self.index.assets.pop(name, None)
        self.index.criticality.pop(name, None)

    def asset(self, name: str, asset: Asset | None) -> None:
        self._drop_host(name)
        if asset is None:  # the file's entry, if any, is back
            spellings, ips = self.file_spellings.get(name, []), self.file_ips.get(name, [])
            context, criticality = self.file_assets.get(name), self.file_criticality.get(name)
        else:
            spellings = [s.strip().lower() for s in [asset.name, *asset.aliases]]
            ips = list(asset.ips)
            context, criticality = _asset_context(name, asset), asset.criticality
            self.host_keys[name] = (spellings, ips)
        for spelling in spellings:
            self.index.host_of_alias[spelling] = name
        for ip in ips:
            self.index.host_of_ip[ip] = name
        if context is not None:
            self.index.assets[name] = context
        if criticality is not None:
            self.index.criticality[name] = criticality

    # -- identities ----------------------------------------------------------------------------------

    def identity(self, user: str, identity: Identity | None) -> None:
        for alias in self.user_keys.pop(user, None) or self.file_user_aliases.get(user, []):
            if self.index.user_of_alias.get(alias) == user:
                del self.index.user_of_alias[alias]
        self.index.identities.pop(user, None)
        if identity is None:
            aliases, context = self.file_user_aliases.get(user, []), self.file_identities.get(user)
        else:
            aliases = [a for a in (user_alias(i) for i in [identity.user, *identity.aliases]) if a]
            context = _identity_context(user, identity, self.index.host_of_alias)
            self.user_keys[user] = aliases
        for alias in aliases:
            self.index.user_of_alias[alias] = user
        if context is not None:
            self.index.identities[user] = context

    # -- change windows ------------------------------------------------------------------------------

    def window(self, window_id: str, window: ChangeWindow | None) -> None:
        old = self.windows.pop(window_id, None)
        if old is not None:
            self.windows_of[old.entity()].pop(window_id, None)
            self._rebuild(old.entity())
        if window is not None:
            ctx = change_window_context(window, self.index, window_id)
            self.windows[window_id] = ctx
            self.windows_of[ctx.entity()][window_id] = ctx
            self._rebuild(ctx.entity())
        else:  # a file window of that id is back
            for entity, found in self.file_windows.items():
                if any(w.id == window_id for w in found):
                    self._rebuild(entity)

    def _rebuild(self, entity: str) -> None:
        topic = self.windows_of.get(entity, {})
        every = [w for w in self.file_windows.get(entity, ()) if w.id not in self.windows] + list(topic.values())
        if every:
            self.index.change_windows[entity] = tuple(every)
        else:
            self.index.change_windows.pop(entity, None)


def overlay(live: LiveContext) -> InventoryOverlay:
    found: Any = live.extras.get("inventory")
    if found is None or found.index is not live.inventory:
        found = live.extras["inventory"] = InventoryOverlay(live.inventory)
    return found


def _asset(live: LiveContext, update: ContextUpdate) -> None:
    value = update["value"]
    overlay(live).asset(update["key"], None if value is None else Asset.model_validate(value))


def _identity(live: LiveContext, update: ContextUpdate) -> None:
    value = update["value"]
    overlay(live).identity(update["key"], None if value is None else Identity.model_validate(value))


def _window(live: LiveContext, update: ContextUpdate) -> None:
    value = update["value"]
    overlay(live).window(update["key"], None if value is None else ChangeWindow.model_validate(value))


register("asset", _asset)
register("identity", _identity)
register("change_window", _window)
