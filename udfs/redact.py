"""Key- and value-based redaction for anything that reaches a log line."""

from __future__ import annotations

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
    re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    re.compile(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,})"
    ),  # vendor API tokens
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password in a URL
]


def redact_text(text: str) -> str:
    out = _SECRET_VALUES[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for pattern in _SECRET_VALUES[1:]:
        out = pattern.sub(MASK, out)
    return out


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked, walking dicts and lists (depth-capped)."""
    if _depth > 16:
        return MASK
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) else redact(v, _depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
