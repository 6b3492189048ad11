"""Why a record could not be normalized: a stable reason code plus a detail for a human.

A detail names the field path, what was expected and what came. It never carries Python exception
text (``KeyError: 'timestamp'``): an analyst reading a dead letter needs the vendor's field names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


def missing_field(*accepted: str, source_format: str | None = None) -> NormalizeError:
    """A required value is absent. ``accepted``: every field name the format reads it from (any one will do)."""
    return NormalizeError("missing_field", f"{_names(accepted)}: required, missing", source_format=source_format)


def require(doc: dict[str, Any], groups: Iterable[tuple[str, ...]], *, source_format: str | None = None) -> None:
    """Raise one ``missing_field`` error naming every unmet group, each with all the names it accepts.

    A group is satisfied by any of its names holding a value (``None`` and ``""`` do not count).
    """
    unmet: list[tuple[str, ...]] = []
    for names in groups:  # plain loops: this runs on every record of several formats
        for name in names:
            if doc.get(name) not in (None, ""):
                break
        else:
            unmet.append(names)
    if unmet:
        detail = " and ".join(_names(names) for names in unmet)
        raise NormalizeError("missing_field", f"{detail}: required, missing", source_format=source_format)


def first_present(doc: dict[str, Any], names: tuple[str, ...], *, source_format: str | None = None) -> str:
    """The first of ``names`` holding a value in ``doc``, else a ``missing_field`` error naming them all."""
    for name in names:
        if doc.get(name) not in (None, ""):
            return name
    raise missing_field(*names, source_format=source_format)


def _names(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)
