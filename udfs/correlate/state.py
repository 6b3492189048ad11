"""Versioned plain-data state records and their migrations.

PyFlink keeps Python state as opaque bytes and checks nothing on restore, so every value we store is
JSON carrying ``v``. Reading a record written by an older version runs the migrations in order; a
record from a newer version than this code is refused loudly rather than misread.

Versions:

- v1 (the walking skeleton): operator ``correlate-sequences`` keyed by host, ValueState ``partials``
  = ``{"v": 1, "partials": {rule_id: [partial, ...]}}`` and MapState ``buffer`` (event ms -> hits).
- v2: operator ``correlate`` keyed by (rule, group): MapState ``partials`` = partial id -> one
  partial ``{"v": 2, ...}``. The ``correlate-sequences`` uid now names the link stage, which keeps
  the v1 ``buffer`` as it was and hands each v1 partial over as a *seed* (:func:`seeds_from_v1`)
  the first time it runs for that key (see ``udfs.flink_functions.LinkFunction``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

PARTIALS_VERSION = 1  # the per-host record of v1 (read for migration; still written by SequenceEngine callers)
PARTIAL_VERSION = 2  # one partial match in the (rule, group) keyed MapState
HITS_VERSION = 1
BINDINGS_VERSION = 1


class StateVersionError(RuntimeError):
    pass


# v -> function upgrading a v record to v+1. Add entries, never edit them.
_PARTIAL_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _refuse_newer(kind: str, version: Any, newest: int) -> None:
    if not isinstance(version, int):
        raise StateVersionError(f"{kind} state without a version field")
    if version > newest:
        raise StateVersionError(
            f"{kind} state is version {version}; this build reads up to {newest}. "
            "Resume the savepoint with the ttpflow version that wrote it, or a newer one."
        )


# -- v1 per-host partials (the skeleton's ValueState) -------------------------------------------


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


# -- one partial match (v2) ---------------------------------------------------------------------


def upgrade_partial(partial: dict[str, Any]) -> dict[str, Any]:
    """A v1 sequence partial (``next_step, first_ms, last_ms, evidence``) as a v2 one; v2 unchanged."""
    if "pid" in partial and "n" in partial:
        return partial
    evidence = partial.get("evidence") or []
    first = evidence[0] if evidence else {}
    return {
        "pid": f"{partial['first_ms']}:{first.get('raw_sha256', '')}:{first.get('rule_id', '')}",
        "next_step": partial["next_step"],
        "n": 0,
        "first_ms": partial["first_ms"],
        "last_ms": partial["last_ms"],
        "step_ms": partial["last_ms"],
        "join": None,
        "evidence": evidence,
        "absences": [],
    }


def encode_part(part: dict[str, Any]) -> str:
    return orjson.dumps({"v": PARTIAL_VERSION, "p": part}).decode()


def decode_part(text: str) -> dict[str, Any]:
    record = orjson.loads(text)
    _refuse_newer("partial-match", record.get("v"), PARTIAL_VERSION)
    return record["p"]


def seeds_from_v1(legacy_key: str, text: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The v1 per-host partials of ``legacy_key`` as (rule id, v2 partial) pairs for the v2 operator."""
    return [(rule_id, upgrade_partial(p)) for rule_id, plist in decode_partials(text).items() for p in plist]


# -- hits buffered until the watermark passes them (unchanged since v1) ------------------------


def encode_hits(hits: list[dict[str, Any]]) -> str:
    return orjson.dumps({"v": HITS_VERSION, "hits": hits}).decode()


def decode_hits(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    record = orjson.loads(text)
    if record.get("v") != HITS_VERSION:
        raise StateVersionError(f"buffered-hit state version {record.get('v')!r} is not readable by this build")
    return record["hits"]


# -- link stage: binding history per subject, and the learner's last emitted binding ------------


def encode_binding(value: Any) -> str:
    return orjson.dumps({"v": BINDINGS_VERSION, "b": value}).decode()


def decode_binding(text: str | None) -> Any:
    if not text:
        return None
    record = orjson.loads(text)
    _refuse_newer("binding", record.get("v"), BINDINGS_VERSION)
    return record["b"]
