"""The formats ttpflow can parse, and how a record's format is chosen (fixed per topic or detected).

A JSON format provides ``looks_like(doc) -> bool`` and ``parse(doc, *, raw_sha256, origin) -> Event``.
A text format (auditd lines, syslog) provides ``looks_like_text(text) -> bool`` and
``parse_text(text, *, raw_sha256, origin) -> Event``. Detection order matters: most specific first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.event import Event, Origin
from udfs.normalize import plain_json


@dataclass(frozen=True)
class JsonFormat:
    name: str
    parser_version: str
    looks_like: Callable[[dict[str, Any]], bool]
    parse: Callable[..., Event]


@dataclass(frozen=True)
class TextFormat:
    name: str
    parser_version: str
    looks_like_text: Callable[[str], bool]
    parse_text: Callable[..., Event]


JSON_FORMATS: list[JsonFormat] = [
    JsonFormat(plain_json.FORMAT, plain_json.PARSER_VERSION, plain_json.looks_like, plain_json.parse),
]
TEXT_FORMATS: list[TextFormat] = []


def register_json(fmt: JsonFormat, *, before: str | None = None) -> None:
    index = next((i for i, f in enumerate(JSON_FORMATS) if f.name == before), len(JSON_FORMATS))
    JSON_FORMATS.insert(index, fmt)


def register_text(fmt: TextFormat) -> None:
    TEXT_FORMATS.append(fmt)


def by_name(name: str) -> JsonFormat | TextFormat:
    for fmt in (*JSON_FORMATS, *TEXT_FORMATS):
        if fmt.name == name:
            return fmt
    known = ", ".join(sorted(f.name for f in (*JSON_FORMATS, *TEXT_FORMATS)))
    raise ValueError(f"unknown format {name!r}; known formats: {known}")


__all__ = ["JSON_FORMATS", "TEXT_FORMATS", "JsonFormat", "Origin", "TextFormat", "by_name"]
