"""Decayed counts per (scope, technique), bounded: the baselines the ``technique_rarity`` factor reads.

Per scope (an asset role, or a host without one: :mod:`udfs.baseline.keys`) every technique's count
decays with the half-life in event time: at a window's end ``t`` a count kept as of ``as_of`` becomes
``count x 0.5 ** ((t - as_of) / half_life)`` plus the window's count. All counts of a scope are kept
as of the scope's latest window end, so they compare directly; a window older than that (windows of
one hour close per key, in any order across parallel subtasks) is decayed to it instead.

Bounds: at most ``top_k`` techniques per scope (the smallest decayed counts go first), and a count
that has decayed below ``floor`` is dropped (with a 7-day half-life one hit lasts about a month);
a scope with no count left is dropped, and warms up again from scratch.

Warm-up: a scope is neutral until its counts span ``warmup_ms`` of event time (from the start of
its first window to the end of its latest) and hold at least ``min_hits`` hits. Both, not either: a
burst of one attack's hits within an hour must not warm a role and teach it the attack as routine,
and a role that saw two hits in a day knows too little to call anything rare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Settings:
    half_life_ms: int = 7 * DAY_MS
    window_ms: int = HOUR_MS  # the JVM's tumbling window (udfs.baseline.sql)
    warmup_ms: int = DAY_MS
    min_hits: int = 20
    top_k: int = 64
    floor: float = 0.05


class Entry(TypedDict):
    """What one key's broadcast entry holds once applied: enough to rebuild the scope after a restore."""

    scope: str
    technique: str
    decayed: float  # the decayed count as of ``as_of``
    as_of: int  # ms
    first_ms: int  # the start of the first window this key was counted in
    hits: int  # hits counted for this key, undecayed (the warm-up's minimum)


@dataclass
class Scope:
    as_of: int
    first_ms: int
    counts: dict[str, float] = field(default_factory=dict)  # technique -> decayed count as of ``as_of``
    firsts: dict[str, int] = field(default_factory=dict)  # technique -> first window start
    hits: dict[str, int] = field(default_factory=dict)  # technique -> undecayed hits

    def total(self) -> float:
        return sum(self.counts.values())

    def hours_seen(self) -> float:
        return (self.as_of - self.first_ms) / HOUR_MS

    def total_hits(self) -> int:
        return sum(self.hits.values())


class Baselines:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.scopes: dict[str, Scope] = {}

    def _decay(self, value: float, dt_ms: int) -> float:
        return value * 0.5 ** (dt_ms / self.settings.half_life_ms)

    def _advance(self, scope: Scope, to_ms: int) -> None:
        if to_ms <= scope.as_of:
            return
        dt = to_ms - scope.as_of
        scope.counts = {t: self._decay(c, dt) for t, c in scope.counts.items()}
        scope.as_of = to_ms

    def add(self, scope_name: str, technique: str, count: int, window_end_ms: int) -> Entry | None:
        """One closed window's count; returns the key's entry as kept now (None when bounded out)."""
        first = window_end_ms - self.settings.window_ms
        return self._merge(scope_name, technique, float(count), window_end_ms, first, count)

    def restore(self, entry: Entry) -> None:
        """An entry as :meth:`add` returned it (a restore from the broadcast state)."""
        self._merge(entry["scope"], entry["technique"], entry["decayed"], entry["as_of"], entry["first_ms"],
                    entry["hits"])

    def _merge(self, scope_name: str, technique: str, value: float, at_ms: int, first_ms: int,
               hits: int) -> Entry | None:
        scope = self.scopes.get(scope_name)
        if scope is None:
            scope = self.scopes[scope_name] = Scope(as_of=at_ms, first_ms=first_ms)
        self._advance(scope, at_ms)
        value = self._decay(value, scope.as_of - at_ms)  # an older window: decayed to the scope's time
        scope.counts[technique] = scope.counts.get(technique, 0.0) + value
        scope.firsts[technique] = min(first_ms, scope.firsts.get(technique, first_ms))
        scope.hits[technique] = scope.hits.get(technique, 0) + hits
        scope.first_ms = min(scope.first_ms, first_ms)
        self._bound(scope_name, scope)
        if technique not in scope.counts:
            return None
        return Entry(scope=scope_name, technique=technique, decayed=scope.counts[technique], as_of=scope.as_of,
                     first_ms=scope.firsts[technique], hits=scope.hits[technique])

    def _bound(self, name: str, scope: Scope) -> None:
        s = self.settings
        dropped = [t for t, c in scope.counts.items() if c < s.floor]
        if len(scope.counts) - len(dropped) > s.top_k:
            kept = sorted((t for t in scope.counts if t not in dropped), key=scope.counts.__getitem__, reverse=True)
            dropped += kept[s.top_k:]
        for t in dropped:
            del scope.counts[t], scope.firsts[t], scope.hits[t]
        if not scope.counts:
            del self.scopes[name]
        elif dropped:
            scope.first_ms = min(scope.firsts.values())  # the warm-up counts from what is still kept

    def warm(self, scope: Scope) -> bool:
        s = self.settings
        return scope.as_of - scope.first_ms >= s.warmup_ms and scope.total_hits() >= s.min_hits
