"""Timestamps in the shapes vendors emit, to UTC epoch milliseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from udfs.normalize.errors import NormalizeError

# Epoch numbers above this are taken as milliseconds, above the next as microseconds, then nanos.
_SECONDS_CEILING = 100_000_000_000
_MILLIS_CEILING = 100_000_000_000_000
_MICROS_CEILING = 100_000_000_000_000_000


def epoch_number_to_ms(value: float, path: str) -> int:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise NormalizeError("bad_timestamp", f"{path}: expected a positive epoch number, got {value!r}")
    if value < _SECONDS_CEILING:
        return round(value * 1000)
    if value < _MILLIS_CEILING:
        return int(value)
    if value < _MICROS_CEILING:
        return int(value // 1000)
    return int(value // 1_000_000)


def iso_to_ms(text: str, path: str) -> int:
    try:  # the C parser takes the common shapes (Z, offsets, up to 6 fraction digits) directly
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _iso_to_ms_slow(text, path)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # vendors that omit the zone log in UTC
    return int(parsed.timestamp() * 1000)


def _iso_to_ms_slow(text: str, path: str) -> int:
    s = text.strip()
    if not s:
        raise NormalizeError("bad_timestamp", f"{path}: expected an ISO 8601 time, got an empty string")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits; EVTX and Zeek emit up to 9.
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            s = s[: dot + 7] + s[end:]
    try:
        parsed = datetime.fromisoformat(s.replace(" ", "T", 1) if "T" not in s else s)
    except ValueError:
        raise NormalizeError(
            "bad_timestamp", f"{path}: expected an ISO 8601 time like 2024-05-01T12:00:00Z, got {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # vendors that omit the zone log in UTC
    return int(parsed.timestamp() * 1000)


def to_epoch_ms(value: object, path: str) -> int:
    if isinstance(value, bool) or value is None:
        raise NormalizeError("bad_timestamp", f"{path}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return epoch_number_to_ms(value, path)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.replace(".", "", 1).isdigit():
            return epoch_number_to_ms(float(stripped), path)
        return iso_to_ms(stripped, path)
    raise NormalizeError("bad_timestamp", f"{path}: expected a string or number, got {type(value).__name__}")
