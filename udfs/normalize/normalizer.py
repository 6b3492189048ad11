"""One raw record in, exactly one of (normalized event, dead letter) out. Nothing escapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.config import Limits
from schemas.dead_letter import DeadLetter
from schemas.event import Event, Origin
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
    """``fmt`` fixes the format (as configured per topic); ``None`` detects it per record."""

    fmt: str | None = None
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)

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
            return self._dead(payload, digest, origin, "parser_error", f"{type(exc).__name__}: {exc}", fmt)

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

    @staticmethod
    def _dead(
        payload: bytes, digest: str, origin: Origin, reason: str, detail: str, source_format: str | None
    ) -> Outcome:
        letter = DeadLetter.of(
            payload,
            reason=reason,
            detail=detail,
            origin=origin,
            parser_version=NORMALIZER_VERSION,
            raw_sha256=digest,
            source_format=source_format,
        )
        return Outcome(dead_letter=letter.model_dump(mode="json"), source_format=source_format)


def _detect(doc: dict[str, Any]) -> registry.JsonFormat | None:
    for json_fmt in registry.JSON_FORMATS:
        if json_fmt.looks_like(doc):
            return json_fmt
    return None


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
