"""Bindings over event time: for each subject, the points where its value was (re)learned.

``lookup(subject, t)`` answers with the value of the latest point at or before ``t``, if that point
is younger than ``max_age`` (a lease or a session not seen again is not trusted forever). Points
arrive in any order (from several learner subtasks); a point is data, not an update, so every
replica of the table answers the same whatever order it saw them in.

Pruning keeps exactly what a lookup that is not late can still use: for a cutoff (watermark minus
allowed lateness), the latest point at or before it and everything after; a subject whose newest
point is older than ``cutoff - max_age`` is dropped whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

Point = list[Any]  # [ts, value | None, via]
MAX_POINTS_PER_SUBJECT = 64


class BindingTable:
    def __init__(self, max_age_ms: int) -> None:
        self.max_age = max_age_ms
        self.points: dict[str, list[Point]] = {}

    def __len__(self) -> int:
        return len(self.points)

    def items(self) -> Iterator[tuple[str, list[Point]]]:
        return iter(self.points.items())

    def load(self, subject: str, points: list[Point]) -> None:
        self.points[subject] = points

    def insert(self, subject: str, ts: int, value: str | None, via: str) -> list[Point]:
        """Add one point; returns the subject's points (to write back to state)."""
        points = self.points.setdefault(subject, [])
        point: Point = [ts, value, via]
        i = bisect.bisect_right(points, ts, key=lambda p: p[0])
        # Same time, several points: keep a fixed order (value text) so replicas agree.
        while i > 0 and points[i - 1][0] == ts and (points[i - 1][1] or "") > (value or ""):
            i -= 1
        if not (i > 0 and points[i - 1][:2] == point[:2]):
            points.insert(i, point)
        if len(points) > MAX_POINTS_PER_SUBJECT:
            del points[: len(points) - MAX_POINTS_PER_SUBJECT]
        return points

    def lookup(self, subject: str, ts: int) -> tuple[str, str, int] | None:
        """(value, via, since) valid at ``ts``, or None."""
        points = self.points.get(subject)
        if not points:
            return None
        i = bisect.bisect_right(points, ts, key=lambda p: p[0])
        if i == 0:
            return None
        at, value, via = points[i - 1]
        if value is None or ts - at > self.max_age:
            return None
        return value, via, at

    def prune(self, subject: str, cutoff: int) -> list[Point] | None:
        """Drop what no lookup at or after ``cutoff`` can use; None when the subject is gone."""
        points = self.points.get(subject)
        if points is None:
            return None
        i = bisect.bisect_right(points, cutoff, key=lambda p: p[0])
        if i > 1:
            del points[: i - 1]
        if points[-1][0] < cutoff - self.max_age:
            del self.points[subject]
            return None
        return points

    def sweep(self, cutoff: int) -> Iterable[str]:
        """Prune every subject; yields the subjects dropped whole."""
        for subject in list(self.points):
            if self.prune(subject, cutoff) is None:
                yield subject
