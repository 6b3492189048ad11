"""Versioned plain-data state records of the Python-path correlate operators, and their migrations.

PyFlink keeps Python state as opaque bytes and checks nothing on restore, so every value we store is
JSON carrying ``v``. Reading a record written by an older version runs the migrations in order; a
record from a newer version than this code is refused loudly rather than misread.

What the operators (uids ``correlate`` and ``correlate-chained``, keyed by rule and group) store:

- MapState ``buffer``: event ms -> the routed records held there until the watermark passes them.
  v1 carried the records' short keys (``evs``, ``p`` and the facts' one-letter names); v2 names them
  (:class:`udfs.correlate.records.RoutedRecord`).
- MapState ``partials``: partial id -> one partial match ``{"v": 2, "p": partial}``, and under
  :data:`GROUP_ENTRY` the key's group values in the same envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from udfs.correlate.records import RoutedRecord
from udfs.errors import TtpflowError

PARTIAL_VERSION = 2
RECORDS_VERSION = 2
GROUP_ENTRY = "~group"  # the partials MapState entry holding the key's group values (cannot be a partial id)


class StateVersionError(TtpflowError, RuntimeError):
    pass


def _refuse_newer(kind: str, version: Any, newest: int) -> int:
    if not isinstance(version, int):
        raise StateVersionError(f"{kind} state without a version field")
    if version > newest:
        raise StateVersionError(
            f"{kind} state is version {version}; this build reads up to {newest}. "
            "Resume the savepoint with the ttpflow version that wrote it, or a newer one."
        )
    return version


# -- one partial match, or the key's group values -------------------------------------------------


def encode_part(part: dict[str, Any]) -> str:
    return orjson.dumps({"v": PARTIAL_VERSION, "p": part}).decode()


def decode_part(text: str) -> dict[str, Any]:
    record = orjson.loads(text)
    _refuse_newer("partial-match", record.get("v"), PARTIAL_VERSION)
    return record["p"]


# -- routed records buffered until the watermark passes them -------------------------------------

_FACT_NAMES_V1 = {"s": "steps", "j": "join", "u": "until", "t": "tactics", "r": "refs", "x": "value"}


def _records_v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    def named(r: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in r.items() if k not in ("evs", "p")}
        facts = {_FACT_NAMES_V1.get(k, k): v for k, v in r["p"].items()}
        return {**rest, "evidence": r["evs"], "facts": facts}

    return {"v": 2, "records": [named(r) for r in record["hits"]]}


# v -> function upgrading a v record to v+1. Add entries, never edit them.
_RECORDS_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _records_v1_to_v2}


def encode_records(records: list[RoutedRecord]) -> str:
    return orjson.dumps({"v": RECORDS_VERSION, "records": records}).decode()


def decode_records(text: str | None) -> list[RoutedRecord]:
    if not text:
        return []
    record = orjson.loads(text)
    version = _refuse_newer("buffered-record", record.get("v"), RECORDS_VERSION)
    while version < RECORDS_VERSION:
        record = _RECORDS_MIGRATIONS[version](record)
        version = record["v"]
    return record["records"]
