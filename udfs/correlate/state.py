"""Versioned plain-data state records and their migrations.

PyFlink keeps Python state as opaque bytes and checks nothing on restore, so every value we store is
JSON carrying ``v``. Reading a record written by an older version runs the migrations in order; a
record from a newer version than this code is refused loudly rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

PARTIALS_VERSION = 1


class StateVersionError(RuntimeError):
    pass


# v -> function upgrading a v record to v+1. Empty while only v1 exists; add entries, never edit them.
_PARTIAL_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def encode_partials(partials: dict[str, list[dict[str, Any]]]) -> str:
    return orjson.dumps({"v": PARTIALS_VERSION, "partials": partials}).decode()


def decode_partials(text: str | None) -> dict[str, list[dict[str, Any]]]:
    if not text:
        return {}
    record = orjson.loads(text)
    version = record.get("v")
    if not isinstance(version, int):
        raise StateVersionError(f"partial-match state without a version field: keys {sorted(record)}")
    if version > PARTIALS_VERSION:
        raise StateVersionError(
            f"partial-match state is version {version}; this build reads up to {PARTIALS_VERSION}. "
            "Resume the savepoint with the ttpflow version that wrote it, or a newer one."
        )
    while version < PARTIALS_VERSION:
        record = _PARTIAL_MIGRATIONS[version](record)
        version = record["v"]
    return record["partials"]


def encode_hits(hits: list[dict[str, Any]]) -> str:
    return orjson.dumps({"v": 1, "hits": hits}).decode()


def decode_hits(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    record = orjson.loads(text)
    if record.get("v") != 1:
        raise StateVersionError(f"buffered-hit state version {record.get('v')!r} is not readable by this build")
    return record["hits"]
