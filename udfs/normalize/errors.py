"""Why a record could not be normalized: a stable reason code plus a detail for a human."""

from __future__ import annotations

from udfs.errors import TtpflowError


class NormalizeError(TtpflowError):
    """Raised by parsers; the caller turns it into a dead letter, never lets it escape the job."""

    def __init__(self, reason: str, detail: str, *, source_format: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.source_format = source_format


def field_error(path: str, expected: str, got: object, *, source_format: str | None = None) -> NormalizeError:
    shown = repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return NormalizeError("schema", f"{path}: expected {expected}, got {shown}", source_format=source_format)
