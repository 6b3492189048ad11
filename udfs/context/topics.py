"""A compacted context topic's record -> a :class:`udfs.context.updates.ContextUpdate`, or a dead letter.

Topics (docs/scoring.md, "Context from Kafka topics"): ``--assets-topic`` (record key: the host name;
value: one entry of the inventory file's ``assets`` list), ``--identities-topic`` (the user name; one
``identities`` entry) and ``--change-windows-topic`` (the window's id; one ``change_windows`` entry).
A null value (a tombstone) deletes the key. An entry is validated with the inventory's own models;
one that does not validate, or whose key is not its name, leaves as a dead letter (the shape of
:class:`schemas.dead_letter.DeadLetter`, with the topic, partition and offset) and the job goes on.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from schemas.assets import Asset, ChangeWindow, Identity
from schemas.config import DEFAULT_DEAD_LETTER_MAX_BYTES
from schemas.dead_letter import DeadLetter
from schemas.event import Origin
from udfs.context.updates import encode, update
from udfs.errors import TtpflowError
from udfs.link.canonical import canonical_host, canonical_user
from udfs.normalize.rawjson import raw_sha256

PARSER_VERSION = "context/1"
MODELS: dict[str, type[BaseModel]] = {"asset": Asset, "identity": Identity, "change_window": ChangeWindow}
NAME_FIELD = {"asset": "name", "identity": "user"}  # the field the record key must name


class BadEntry(TtpflowError):
    """Why a topic's entry is not taken: ``reason`` is the dead letter's stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _canonical(kind: str, name: str) -> str:
    name = name.strip()
    if kind == "asset":
        return canonical_host(name) or name.lower()
    if kind == "identity":
        return canonical_user(name) or name.lower()
    return name


def entry(kind: str, key: bytes | None, value: bytes | None) -> tuple[str, dict[str, Any] | None]:
    """(the update's key, the validated entry or None for a tombstone); :class:`BadEntry` says why not."""
    if not key:
        raise BadEntry("missing_key", f"a {kind} record needs its key ({NAME_FIELD.get(kind, 'id')})")
    try:
        name = key.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadEntry("invalid_utf8", "the record key is not UTF-8") from None
    if not name:
        raise BadEntry("missing_key", "the record key is blank")
    canonical = _canonical(kind, name)
    if value is None:
        return canonical, None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadEntry("not_json", f"the value is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadEntry("schema", f"expected a {kind} entry (an object), got {type(doc).__name__}")
    field = NAME_FIELD.get(kind)
    if field is not None:
        doc.setdefault(field, name)
        if isinstance(doc[field], str) and _canonical(kind, doc[field]) != canonical:
            raise BadEntry("key_mismatch", f"the record key {name!r} is not the entry's {field} {doc[field]!r}")
    try:
        model = MODELS[kind].model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(entry)"
        raise BadEntry("schema", f"{where}: {err['msg']}") from None
    except (TypeError, ValueError) as exc:  # whatever else a model refuses: a dead letter, never a failed job
        raise BadEntry("schema", str(exc)[:300]) from None
    # Only what the entry says: the handlers validate it again (a null is "not known", as a missing field).
    return canonical, model.model_dump(mode="json", exclude_none=True)


def decode_record(kind: str, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                  ts: int, max_raw_bytes: int = DEFAULT_DEAD_LETTER_MAX_BYTES) -> tuple[str | None, str | None]:
    """(the update as JSON, None), or (None, the dead letter as JSON)."""
    try:
        name, doc = entry(kind, key, value)
    except BadEntry as bad:
        payload = value if value is not None else b""
        letter = DeadLetter.of(payload, reason=bad.reason, detail=f"{kind} entry: {bad}",
                               origin=Origin(topic=topic, partition=partition, offset=offset),
                               parser_version=PARSER_VERSION, raw_sha256=raw_sha256(payload),
                               source_format=f"context_{kind}", max_raw_bytes=max_raw_bytes)
        return None, orjson.dumps(letter.model_dump(mode="json")).decode()
    return encode(update(kind, name, doc, ts)), None
