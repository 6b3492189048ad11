"""The baseline keys of one hit: ``<scope>|<technique>`` per technique, where the scope is the host's
inventory role (``role:build_server``) when known, else the host itself (``host:<name>``).

They ride in the hit row's ``keys`` map as ``keys['~base'] = 'role:build_server|T1027,...'`` (not a
column of their own: a new column would change the row type the linking stages keep in state, and
savepoints of earlier builds would not restore). The JVM splits them on ``,``; each key goes into a
JSON string as it is, so the characters that would break either are replaced here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from udfs.link.inventory import AssetContext

BASE_KEY = "~base"  # keys[BASE_KEY]: the hit's baseline keys, comma-separated
_UNSAFE = re.compile(r'[,|"\\\x00-\x1f]')


def scope_of(host: str | None, asset: AssetContext | None) -> str | None:
    """What a host's hits are counted under: its role, else the host; None without a host."""
    if asset is not None and asset.role:
        return f"role:{_UNSAFE.sub('_', asset.role)}"
    if host:
        return f"host:{_UNSAFE.sub('_', host)}"
    return None


def baseline_keys(scope: str | None, techniques: Iterable[str]) -> str | None:
    """``keys['~base']`` of a hit: one key per distinct technique, or None (no scope, no technique)."""
    if scope is None:
        return None
    keys = [f"{scope}|{_UNSAFE.sub('_', t)}" for t in dict.fromkeys(techniques) if t]
    return ",".join(keys) or None


def split_key(key: str) -> tuple[str, str]:
    """(scope, technique) of one baseline key."""
    scope, _, technique = key.rpartition("|")
    return scope, technique
