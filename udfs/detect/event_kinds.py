"""Which kinds an event is (names and meaning: :mod:`schemas.event_kinds`), and filters on them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.event_kinds import ANY, NOT_PROCESS_CREATION, UNCLASSIFIED, split_kind


def _meta(event: dict[str, Any]) -> tuple[list[str], list[str], Any]:
    meta = event.get("event") or {}
    return meta.get("category") or [], meta.get("type") or [], meta.get("action")


def _pair_holds(category: str, type_: str, categories: list[str], types: list[str], action: Any) -> bool:
    if category not in categories or type_ not in types:
        return False
    if category == "process" and type_ == "start":  # a new process, not a library or engine load
        return "library" not in categories and action not in NOT_PROCESS_CREATION
    return True


def is_process_creation(event: dict[str, Any]) -> bool:
    categories, types, action = _meta(event)
    return _pair_holds("process", "start", categories, types, action)


def event_kinds(event: dict[str, Any]) -> list[str]:
    """Every kind ``event`` has (``any`` left out), e.g. ``['process_start']``."""
    categories, types, action = _meta(event)
    if not categories and not types:
        return [UNCLASSIFIED]
    return [f"{c}_{t}" for c in categories for t in types if _pair_holds(c, t, categories, types, action)]


@dataclass(frozen=True)
class KindFilter:
    """A rule's ``event_kinds``, compiled: an event passes when it has any of them."""

    kinds: tuple[str, ...]
    any_event: bool
    unclassified: bool
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, kinds: Iterable[str]) -> KindFilter:
        names = tuple(kinds)
        pairs = tuple(p for p in (split_kind(n) for n in names) if p is not None)
        return cls(names, ANY in names, UNCLASSIFIED in names, pairs)

    def matches(self, event: dict[str, Any]) -> bool:
        if self.any_event:
            return True
        categories, types, action = _meta(event)
        if not categories and not types:
            return self.unclassified
        return any(_pair_holds(c, t, categories, types, action) for c, t in self.pairs)

