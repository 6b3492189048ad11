"""One change of the job's context (docs/scoring.md, "Context from Kafka topics"), as it travels the
broadcast: ``{"kind", "key", "value", "ts"}``. ``value: None`` deletes ``key`` (a compacted topic's
tombstone). Kinds: ``asset``, ``identity``, ``change_window`` (udfs.context.inventory), ``baseline``
and ``verdict`` (their own modules, registered with :func:`udfs.context.live.register`).

The broadcast state holds the latest update per ``kind|key`` (:func:`state_key`) as its JSON text,
so a restored job rebuilds its context from the savepoint by applying every entry again."""

from __future__ import annotations

from typing import Any, TypedDict

import orjson


class ContextUpdate(TypedDict):
    kind: str
    key: str
    value: dict[str, Any] | None  # None: the key is deleted
    ts: int  # when the update was made (the Kafka record time), epoch ms


def update(kind: str, key: str, value: dict[str, Any] | None, ts: int = 0) -> ContextUpdate:
    return {"kind": kind, "key": key, "value": value, "ts": ts}


def encode(item: ContextUpdate) -> str:
    return orjson.dumps(item).decode()


def decode(text: str | bytes) -> ContextUpdate:
    doc = orjson.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not isinstance(doc.get("key"), str):
        raise ValueError(f"expected a context update {{kind, key, value, ts}}, got {str(text)[:200]!r}")
    value = doc.get("value")
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"expected a context update's value to be an object or null, got {type(value).__name__}")
    return {"kind": doc["kind"], "key": doc["key"], "value": value, "ts": int(doc.get("ts") or 0)}


def state_key(item: ContextUpdate) -> str:
    """The broadcast state's key: one entry per kind and key, the latest update wins."""
    return f"{item['kind']}|{item['key']}"
