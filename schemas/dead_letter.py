"""A record that left the main path at normalize, kept byte for byte for forensic replay."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.event import Origin

DEAD_LETTER_SCHEMA_VERSION = 1


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = DEAD_LETTER_SCHEMA_VERSION
    reason: str  # a stable code: not_json, invalid_utf8, schema, bad_timestamp, oversized, ...
    detail: str  # for a human: field path, expected, got
    source_format: str | None = None
    parser_version: str
    raw_encoding: Literal["utf-8", "base64"]
    raw: str
    raw_sha256: str
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
    ) -> DeadLetter:
        try:
            raw, encoding = payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raw, encoding = base64.b64encode(payload).decode("ascii"), "base64"
        return cls(
            reason=reason,
            detail=detail,
            source_format=source_format,
            parser_version=parser_version,
            raw_encoding=encoding,  # type: ignore[arg-type]
            raw=raw,
            raw_sha256=raw_sha256,
            origin=origin,
        )

    def payload(self) -> bytes:
        """The original bytes, exactly."""
        if self.raw_encoding == "base64":
            return base64.b64decode(self.raw)
        return self.raw.encode("utf-8")
