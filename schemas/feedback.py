"""An analyst's verdict on an alert, as it arrives on the ``--feedback-topic`` (docs/scoring.md,
"Analyst feedback").

    {"alert_id": "...", "verdict": "true_positive" | "false_positive", "analyst": "...",
     "comment": "...", "at": "2026-11-30T07:00:00Z"}

``comment`` and ``at`` are optional; other fields are ignored (ticketing and SOAR tools add their
own). A verdict that does not fit raises :class:`FeedbackError` naming the field, what was expected
and what came; the job dead-letters such a record with reason ``invalid_feedback``.
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from udfs.errors import Location, TtpflowError

VerdictKind = Literal["true_positive", "false_positive"]
MAX_ID_CHARS = 256
MAX_ANALYST_CHARS = 256
MAX_COMMENT_CHARS = 4_000


class FeedbackError(TtpflowError, ValueError):
    """A feedback record that is not a verdict; ``location.field`` names the field."""


class Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    alert_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="the id of an alert of this job")
    verdict: VerdictKind
    analyst: str = Field(min_length=1, max_length=MAX_ANALYST_CHARS, description="who decided")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    at: AwareDatetime | None = Field(default=None, description="when the analyst decided (ISO 8601 with a zone)")

    def at_ms(self) -> int | None:
        return None if self.at is None else int(self.at.timestamp() * 1000)


def parse_verdict(payload: bytes | str) -> Verdict:
    """One feedback record's bytes as a :class:`Verdict`, or :class:`FeedbackError` naming the field."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FeedbackError(f"expected a JSON object, got text that is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FeedbackError(f"expected a JSON object, got a JSON {type(doc).__name__}")
    try:
        return Verdict.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        got = first.get("input")
        shown = "nothing" if first["type"] == "missing" else repr(got)[:120]
        raise FeedbackError(f"expected {_expected(first)}, got {shown}", location=Location(field=field)) from None


def _expected(error: object) -> str:
    """What the field should hold, in words (pydantic's message, minus its own phrasing of the input)."""
    kind = error["type"]  # type: ignore[index]
    if kind == "missing":
        return "a value (the field is required)"
    if kind == "literal_error":
        return "one of 'true_positive', 'false_positive'"
    if kind in ("timezone_aware", "datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return "an ISO 8601 time with a zone, e.g. 2026-11-30T07:00:00Z"
    if kind == "string_type":
        return "a string"
    if kind == "string_too_short":
        return "a non-empty string"
    if kind == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters"  # type: ignore[index]
    return str(error["msg"]).lower()  # type: ignore[index]


__all__ = ["FeedbackError", "Verdict", "VerdictKind", "parse_verdict"]
