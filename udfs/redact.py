"""Key- and value-based redaction for anything that reaches a log line."""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|authorization|auth[-_]?header|"
    r"credential|private[-_]?key|session[-_]?key|cookie|client[-_]?secret|access[-_]?key)",
    re.IGNORECASE,
)
_SECRET_VALUES = [
    # key=value / key: value pairs inside free text (command lines, URLs, messages)
    re.compile(
        r"(?i)\b(pass(?:word|wd)?|pwd|secret|token|api[-_]?key|client[-_]?secret)\b(\s*[=:]\s*|\s+)"
        r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
    ),
    # an Authorization header in text, whatever its scheme (Bearer, Basic, Token, ApiKey, AWS4-HMAC...)
    re.compile(r"(?i)\b(?:proxy-)?authorization\s*[:=]\s*(?:\w[\w-]*\s+)?[^\s,;\"']+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    # AWS secret access key shape: 40 base64 chars with both cases, so hex digests (sha1) stay readable
    # (the lookaheads bounded to the 40 characters: the same matches, without rescanning long runs)
    re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])[A-Za-z0-9/+]{40}"
               r"(?![A-Za-z0-9/+=])"),
    re.compile(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,})"
    ),  # vendor API tokens
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password in a URL
]


# Field values repeat across events (paths, names, levels): short ones are remembered, up to a bound,
# which is what keeps redacting outputs cheap (~60 strings an event; bench/bench_analyze.py). Measured:
# one combined search as a guard ran slower than the eight patterns one after the other.
_SHORT = 256
_seen: dict[str, str] = {}


def redact_text(text: str) -> str:
    if len(text) <= _SHORT:
        done = _seen.get(text)
        if done is None:
            if len(_seen) >= 20_000:  # at most ~10 MB of short strings and their redactions
                _seen.clear()
            done = _seen[text] = _redact_text(text)
        return done
    return _redact_text(text)


# Each value pattern with the literals it cannot match without (lowercased where the pattern ignores
# case; None: always run). A pattern whose literals are absent is skipped: the same output, since a
# mask ("[REDACTED]") holds none of them and its brackets join nothing. Long texts (a Windows message
# is ~2 KB) then cost two or three scans instead of eight.
_NEEDS: tuple[tuple[tuple[str, ...], bool] | None, ...] = (
    (("pass", "pwd", "secret", "token", "api"), True),
    (("authorization",), True),
    (("bearer", "basic"), True),
    (("eyJ",), False),
    (("AKIA", "ASIA"), False),
    None,
    (("gh", "xox", "sk-"), False),
    (("://",), False),
)
_KEEPS_KEY = tuple(i == 0 for i in range(len(_SECRET_VALUES)))  # the key=value pattern masks the value only


def _redact_text(text: str) -> str:
    low = text.lower()
    out = text
    for pattern, needs, keep_key in zip(_SECRET_VALUES, _NEEDS, _KEEPS_KEY, strict=True):
        if needs is not None:
            words, folded = needs
            haystack = low if folded else text
            if not any(word in haystack for word in words):
                continue
        out = pattern.sub(_keep_key, out) if keep_key else pattern.sub(MASK, out)
    return out


def _keep_key(match: re.Match[str]) -> str:
    """The key and separator stay: "password=[REDACTED]"."""
    return f"{match.group(1)}{match.group(2)}{MASK}"


def _chain(text: str) -> str:
    """Every pattern in turn, no skipping: what :func:`_redact_text` must equal (tests)."""
    out = _SECRET_VALUES[0].sub(_keep_key, text)
    for pattern in _SECRET_VALUES[1:]:
        out = pattern.sub(MASK, out)
    return out


@functools.lru_cache(maxsize=8192)  # keys are field names: few, and met again in every event
def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


_LEAVES = (int, float, bool, type(None))


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked, walking dicts and lists (depth-capped)."""
    if _depth > 16:
        return MASK
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if kind is dict:
        return {k: (MASK if type(k) is str and is_secret_key(k) else _member(v, _depth)) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_member(v, _depth) for v in value]
    if isinstance(value, dict):  # subclasses: the slow way
        return {k: (MASK if isinstance(k, str) and is_secret_key(k) else redact(v, _depth + 1))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _member(value: Any, depth: int) -> Any:
    """A member's redaction; leaves without a call to :func:`redact` (an event has ~100 of them)."""
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if kind in _LEAVES:
        return value
    return redact(value, depth + 1)
