"""Regular expressions for Sigma ``re`` values: RE2 first, Python ``re`` only where RE2 cannot.

RE2 runs in time linear in the input, so neither a hostile rule nor a hostile event can stall the job.
It lacks look-around and back-references. A pattern that needs them falls back to Python's ``re``;
such patterns are counted and named in the load report, and their input is capped at
``FALLBACK_MAX_INPUT`` characters so one crafted event can cost at most a bounded backtrack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import re2

FALLBACK_MAX_INPUT = 4096

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a pattern RE2 rejects is normal here (we fall back); keep stderr quiet


@dataclass(frozen=True)
class CompiledRegex:
    search: Callable[[str], bool]
    engine: str  # "re2" or "python"
    pattern: str
    fallback_reason: str | None = None


def compile_regex(pattern: str, flags: str = "") -> CompiledRegex:
    """Compile a Sigma regex (search semantics, i/m/s flags). Raises ``ValueError`` if invalid."""
    prefix = f"(?{flags})" if flags else ""
    try:
        compiled = re2.compile(prefix + pattern, _RE2_OPTIONS)
        found = compiled.search
        return CompiledRegex(lambda text: found(text) is not None, "re2", pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    py_flags = 0
    for flag, value in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL)):
        if flag in flags:
            py_flags |= value
    try:
        slow = re.compile(pattern, py_flags).search
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None

    def search(text: str) -> bool:
        return slow(text[:FALLBACK_MAX_INPUT]) is not None

    return CompiledRegex(search, "python", pattern, reason)


_META = frozenset("\\.^$|?*+()[]{}")


def _escape(text: str) -> str:
    # re.escape also escapes space, '#', '&' and '~', which RE2 rejects; escape only real metacharacters.
    return "".join("\\" + c if c in _META else c for c in text)


def glob_to_regex(parts: tuple[str | int, ...], multi: int, single: int) -> str:
    """A wildcard string (text parts and the ``*`` / ``?`` markers) as a regex over the whole value."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(_escape(part))
        elif part == multi:
            out.append(".*")
        elif part == single:
            out.append(".")
    return "(?s)^" + "".join(out) + "$"
