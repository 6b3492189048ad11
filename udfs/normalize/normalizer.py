"""One raw record in, exactly one of (normalized event, dead letter) out. Nothing escapes."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.config import Limits
from schemas.dead_letter import DEFAULT_DEAD_LETTER_MAX_BYTES, DeadLetter
from schemas.event import Event, Origin
from udfs.jsonlog import log
from udfs.normalize import envelopes, registry
from udfs.normalize.draft import finish
from udfs.normalize.errors import NormalizeError
from udfs.normalize.rawjson import DEFAULT_LIMITS, decode_json_object, raw_sha256

NORMALIZER_VERSION = "ttpflow-normalize/1"


@dataclass
class Outcome:
    """Either ``event`` (the plain-dict event) or ``dead_letter`` is set."""

    event: dict[str, Any] | None = None
    dead_letter: dict[str, Any] | None = None
    source_format: str | None = None


@dataclass
class Normalizer:
    """``fmt`` fixes the format (as configured per topic); ``None`` detects it per record.
    ``dead_letter_max_bytes``: a dead letter keeps this much of the payload at most (the rest as
    length and SHA-256, :class:`DeadLetter`), so that it fits the dead-letter sink."""

    fmt: str | None = None
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    dead_letter_max_bytes: int = DEFAULT_DEAD_LETTER_MAX_BYTES

    def __post_init__(self) -> None:
        self._fixed = registry.by_name(self.fmt) if self.fmt else None

    def normalize(self, payload: bytes, origin: Origin) -> Outcome:
        digest = raw_sha256(payload)
        chosen: list[str] = []  # the format that claimed the record, for dead letters raised later
        try:
            parsed = self._parse(payload, digest, origin, chosen)
            record = finish(parsed) if isinstance(parsed, dict) else parsed.to_record()
            return Outcome(event=record, source_format=chosen[-1])
        except NormalizeError as err:
            fmt = err.source_format or (chosen[-1] if chosen else None)
            return self._dead(payload, digest, origin, err.reason, err.detail, fmt)
        except ValidationError as err:
            first = err.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            detail = f"{path}: {first['msg']}, got {_short(first.get('input'))}"
            return self._dead(payload, digest, origin, "schema", detail, chosen[-1] if chosen else None)
        except RecursionError:
            return self._dead(payload, digest, origin, "too_deep", "structure too deep to process", None)
        except Exception as exc:  # a parser bug must cost one record, never the job
            fmt = chosen[-1] if chosen else None
            return self._dead(payload, digest, origin, "parser_error", _parser_bug(exc, fmt, digest), fmt)

    def dead_letter(
        self, payload: bytes, origin: Origin, reason: str, detail: str, source_format: str | None = None
    ) -> Outcome:
        """A dead letter for a record that normalized but cannot go on (e.g. its outputs are too large)."""
        return self._dead(payload, raw_sha256(payload), origin, reason, detail, source_format)

    def _parse(self, payload: bytes, digest: str, origin: Origin, chosen: list[str]) -> Event | dict[str, Any]:
        fixed = self._fixed
        if isinstance(fixed, registry.TextFormat):
            chosen.append(fixed.name)
            text = _text(payload, self.limits)
            return fixed.parse_text(text, raw_sha256=digest, origin=origin)
        if fixed is None and payload.lstrip()[:1] != b"{" and registry.TEXT_FORMATS:
            text = _text(payload, self.limits)
            for text_fmt in registry.TEXT_FORMATS:
                if text_fmt.looks_like_text(text):
                    chosen.append(text_fmt.name)
                    return text_fmt.parse_text(text, raw_sha256=digest, origin=origin)
        doc = decode_json_object(payload, self.limits)
        if fixed is not None:
            chosen.append(fixed.name)
            return fixed.parse(doc, raw_sha256=digest, origin=origin)
        fmt = _detect(doc)
        if fmt is None:
            inner = envelopes.unwrap(doc)
            if inner is not None:
                # A shipper's wrapper (a Splunk export row): the vendor record is inside, as text.
                doc = decode_json_object(inner, self.limits)
                fmt = _detect(doc)
        if fmt is None:
            raise envelopes.unknown(doc)
        chosen.append(fmt.name)
        return fmt.parse(doc, raw_sha256=digest, origin=origin)

    def _dead(
        self, payload: bytes, digest: str, origin: Origin, reason: str, detail: str, source_format: str | None
    ) -> Outcome:
        letter = DeadLetter.of(
            payload,
            reason=reason,
            detail=detail,
            origin=origin,
            parser_version=NORMALIZER_VERSION,
            raw_sha256=digest,
            source_format=source_format,
            max_raw_bytes=self.dead_letter_max_bytes,
        )
        return Outcome(dead_letter=letter.model_dump(mode="json"), source_format=source_format)


def _detect(doc: dict[str, Any]) -> registry.JsonFormat | None:
    for json_fmt in registry.JSON_FORMATS:
        if json_fmt.looks_like(doc):
            return json_fmt
    return None


def _parser_bug(exc: Exception, fmt: str | None, digest: str) -> str:
    """The dead-letter detail for a parser bug, and a log line for the developers.

    The detail says where the parser failed, not the exception's text: ``KeyError: 'timestamp'`` reads
    like a field problem of the record, and the record is not at fault. The log names the exception
    (never the payload: its digest), for the fix; the record is replayable once the parser is fixed.
    """
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else "unknown"
    log(
        "normalize: parser bug",
        logging.ERROR,
        source_format=fmt,
        raw_sha256=digest,
        error=type(exc).__name__,
        where=where,
    )
    parser = f"the {fmt} parser" if fmt else "format detection"
    return f"{parser} failed at {where}: a ttpflow bug, not bad input; replay this record once it is fixed"


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _text(payload: bytes, limits: Limits) -> str:
    if len(payload) > limits.max_bytes:
        raise NormalizeError("oversized", f"{len(payload)} bytes, cap is {limits.max_bytes}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NormalizeError("invalid_utf8", f"byte {exc.start}: {exc.reason}") from None
