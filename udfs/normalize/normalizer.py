"""One raw record in, exactly one of (normalized event, dead letter) out. Nothing escapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.dead_letter import DeadLetter
from schemas.event import Origin
from udfs.normalize import registry
from udfs.normalize.errors import NormalizeError
from udfs.normalize.rawjson import DEFAULT_LIMITS, Limits, decode_json_object, raw_sha256

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
        try:
            event, fmt_name = self._parse(payload, digest, origin)
            return Outcome(event=event.to_record(), source_format=fmt_name)
        except NormalizeError as err:
            return self._dead(payload, digest, origin, err.reason, err.detail, err.source_format)
        except ValidationError as err:
            first = err.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            return self._dead(payload, digest, origin, "schema", f"{path}: {first['msg']}", None)
        except RecursionError:
            return self._dead(payload, digest, origin, "too_deep", "structure too deep to process", None)
        except Exception as exc:  # a parser bug must cost one record, never the job
            return self._dead(payload, digest, origin, "parser_error", f"{type(exc).__name__}: {exc}", None)

    def _parse(self, payload: bytes, digest: str, origin: Origin) -> tuple[Any, str]:
        fixed = self._fixed
        if isinstance(fixed, registry.TextFormat):
            text = _text(payload, self.limits)
            return fixed.parse_text(text, raw_sha256=digest, origin=origin), fixed.name
        stripped = payload.lstrip()
        if fixed is None and not stripped.startswith(b"{") and registry.TEXT_FORMATS:
            text = _text(payload, self.limits)
            for text_fmt in registry.TEXT_FORMATS:
                if text_fmt.looks_like_text(text):
                    return text_fmt.parse_text(text, raw_sha256=digest, origin=origin), text_fmt.name
        doc = decode_json_object(payload, self.limits)
        if fixed is not None:
            return fixed.parse(doc, raw_sha256=digest, origin=origin), fixed.name
        for json_fmt in registry.JSON_FORMATS:
            if json_fmt.looks_like(doc):
                return json_fmt.parse(doc, raw_sha256=digest, origin=origin), json_fmt.name
        keys = ", ".join(sorted(doc)[:8])
        raise NormalizeError("unknown_format", f"no parser recognises an object with keys: {keys}")

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


def _text(payload: bytes, limits: Limits) -> str:
    if len(payload) > limits.max_bytes:
        raise NormalizeError("oversized", f"{len(payload)} bytes, cap is {limits.max_bytes}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NormalizeError("invalid_utf8", f"byte {exc.start}: {exc.reason}") from None
