"""In-memory keyed state and event-time timers: the :mod:`udfs.keyed` protocols as Flink provides
them (state scoped to a key, timers firing in timestamp order, one timer per key and time)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class MemoryStore(dict[K, V], Generic[K, V]):
    """One key's MapState."""

    def put(self, key: K, value: V) -> None:
        self[key] = value

    def remove(self, key: K) -> None:
        del self[key]


class MemoryState(Generic[K, V]):
    """One MapState of an operator, for every key."""

    def __init__(self) -> None:
        self.by_key: dict[str, MemoryStore[K, V]] = {}

    def of(self, key: str) -> MemoryStore[K, V]:
        return self.by_key.setdefault(key, MemoryStore())

    def compact(self, key: str) -> None:
        """Forget the key when its state is empty (Flink stores nothing for an empty MapState)."""
        if not self.by_key.get(key, True):
            del self.by_key[key]

    def values(self) -> Iterator[MemoryStore[K, V]]:
        return iter(self.by_key.values())


class MemoryTimers:
    """An operator's event-time timer service over all keys, with the watermark it has seen."""

    def __init__(self) -> None:
        self.watermark = -(2**63)
        self.queue: list[tuple[int, str]] = []
        self.registered: set[tuple[int, str]] = set()

    def of(self, key: str) -> KeyTimers:
        return KeyTimers(self, key)

    def register(self, key: str, timestamp: int) -> None:
        if (timestamp, key) not in self.registered:
            self.registered.add((timestamp, key))
            heapq.heappush(self.queue, (timestamp, key))

    def due(self, watermark: int) -> Iterator[tuple[int, str]]:
        """Timers the watermark reaches, in timestamp order (including ones registered meanwhile). As
        in Flink, the operator's watermark is already ``watermark`` while they fire."""
        self.watermark = max(self.watermark, watermark)
        while self.queue and self.queue[0][0] <= watermark:
            timestamp, key = heapq.heappop(self.queue)
            self.registered.discard((timestamp, key))
            yield timestamp, key


class KeyTimers:
    """:class:`udfs.keyed.TimerService` of one key."""

    def __init__(self, timers: MemoryTimers, key: str) -> None:
        self.timers = timers
        self.key = key

    def current_watermark(self) -> int:
        return self.timers.watermark

    def register_event_time_timer(self, timestamp: int) -> None:
        self.timers.register(self.key, timestamp)
