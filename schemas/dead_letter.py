"""A record that left the main path at normalize, kept byte for byte for forensic replay.

A dead letter must always fit the sink it is written to (the dead-letter Kafka topic: 1 MB per
record by default), so the raw payload is kept whole up to ``max_raw_bytes`` only. Beyond that the
letter keeps the first ``max_raw_bytes`` bytes, the whole payload's ``length`` and ``sha256``, and
``truncated: true``; such a letter cannot be replayed as the original (``ttpflow replay`` refuses
it unless asked for the prefix).

Fields (schema 2; schema 1 letters had no ``truncated``, ``length`` or ``sha256`` and read as not
truncated):

- ``reason``: a stable code (``not_json``, ``invalid_utf8``, ``schema``, ``oversized``, ...);
  ``detail``: for a human (field path, expected, got), at most :data:`MAX_DETAIL_CHARS`;
- ``raw``, ``raw_encoding``: the kept bytes, as UTF-8 text when they are UTF-8 and their JSON
  form (quotes escape to 2 bytes, control characters to 6) fits the size bound below, else base64;
- ``raw_sha256``: the first 16 hex digits of the whole payload's SHA-256 (as events carry it);
- ``length``: the whole payload's size in bytes; ``sha256``: its full SHA-256, hex;
- ``truncated``: ``raw`` holds only the first bytes of the payload (``len(payload()) < length``);
- ``origin``: topic/partition/offset, or file/line.

Size bound: the letter's JSON is at most ``4 * ceil(max_raw_bytes / 3)`` bytes of ``raw`` plus
the envelope (a few hundred bytes, ``detail`` included, and the origin's topic or file name).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

from schemas.config import DEFAULT_DEAD_LETTER_MAX_BYTES
from schemas.event import Origin

DEAD_LETTER_SCHEMA_VERSION = 2
MAX_DETAIL_CHARS = 1_000

__all__ = ["DEAD_LETTER_SCHEMA_VERSION", "DEFAULT_DEAD_LETTER_MAX_BYTES", "DeadLetter", "encode_raw"]


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = DEAD_LETTER_SCHEMA_VERSION
    reason: str  # a stable code: not_json, invalid_utf8, schema, bad_timestamp, oversized, ...
    detail: str  # for a human: field path, expected, got
    source_format: str | None = None
    parser_version: str
    raw_encoding: Literal["utf-8", "base64"]
    raw: str  # the payload, or its first bytes when truncated
    raw_sha256: str  # 16 hex digits of the whole payload's SHA-256
    truncated: bool = False
    length: int | None = None  # bytes in the whole payload (None: a schema-1 letter)
    sha256: str | None = None  # the whole payload's SHA-256, hex (None: a schema-1 letter)
    origin: Origin

    @classmethod
    def of(
        cls,
        payload: bytes,
        *,
        reason: str,
        detail: str,
        origin: Origin,
        parser_version: str,
        raw_sha256: str,
        source_format: str | None = None,
        max_raw_bytes: int = DEFAULT_DEAD_LETTER_MAX_BYTES,
    ) -> DeadLetter:
        kept = payload if len(payload) <= max_raw_bytes else payload[: max(max_raw_bytes, 0)]
        raw, encoding = encode_raw(kept, budget=base64_size(max_raw_bytes), cut=len(kept) < len(payload))
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
        return cls(
            reason=reason,
            detail=detail,
            source_format=source_format,
            parser_version=parser_version,
            raw_encoding=encoding,
            raw=raw,
            raw_sha256=raw_sha256,
            truncated=len(kept) < len(payload),
            length=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(),
            origin=origin,
        )

    def payload(self) -> bytes:
        """The bytes kept: the original payload exactly, or its first bytes when ``truncated``."""
        if self.raw_encoding == "base64":
            return base64.b64decode(self.raw, validate=True)
        return self.raw.encode("utf-8")


def base64_size(n: int) -> int:
    return 4 * ((max(n, 0) + 2) // 3)


def encode_raw(kept: bytes, *, budget: int, cut: bool = False) -> tuple[str, Literal["utf-8", "base64"]]:
    """``kept`` as UTF-8 text when it is UTF-8 and its JSON form fits ``budget`` bytes, else base64.

    JSON escapes quotes and backslashes to 2 bytes and control characters to 6: text a reader can
    read is kept as text while it fits what base64 of the largest kept payload would take, so the
    letter's size bound holds whatever the bytes. ``cut``: ``kept`` is a prefix, so a multi-byte
    character split at its end is no reason for base64 (the text then stops before it: still a
    prefix of the payload).
    """
    text: str | None = None
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.reason == "unexpected end of data" and exc.start >= len(kept) - 3:
            try:
                text = kept[: exc.start].decode("utf-8")
            except UnicodeDecodeError:
                text = None
    if text is not None and len(orjson.dumps(text)) - 2 <= budget:
        return text, "utf-8"
    return base64.b64encode(kept).decode("ascii"), "base64"
