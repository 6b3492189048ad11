"""The root of every ttpflow exception, with an optional structured location (file, line, field).

Like pySigma's ``SigmaError`` / ``SigmaRuleLocation``: a raiser that knows where the problem is passes
a :class:`Location` rather than formatting it into the message, and ``str(err)`` renders
``path:line: field F: message`` from whatever is known. Errors that also were a ``ValueError`` or a
``RuntimeError`` keep that base as well (``class X(TtpflowError, ValueError)``), so callers that catch
those still do. ``ttpflow`` (``jobs.cli``) prints any ``TtpflowError`` without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where an error is: a file, a 1-based line in it, a field (dotted path) in the document."""

    path: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            parts.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ": ".join(parts)


class TtpflowError(Exception):
    """Base of ttpflow's exceptions. ``location`` (keyword only) says where, when that is known."""

    def __init__(self, *args: object, location: Location | None = None) -> None:
        super().__init__(*args)
        self.location = location

    @property
    def message(self) -> str:
        """The message without the location."""
        return super().__str__()

    def __str__(self) -> str:
        where = str(self.location) if self.location is not None else ""
        message = self.message
        if where and message:
            return f"{where}: {message}"
        return where or message
