"""What a Flink-free keyed operator core needs from its host: per-key state and event-time timers.

A core (e.g. :class:`udfs.correlate.operator.CorrelateOperator`) is written against these two
protocols. In the job, Flink's own objects satisfy them as they are (``MapState`` is a
:class:`KeyedStore`, ``ctx.timer_service()`` a :class:`TimerService`), so the PyFlink wrapper only
binds state and turns results into yields; in tests, :mod:`udfs.testing.memory` supplies in-memory
ones, so the property tests run the code the job runs (the quix-streams ``State`` idea).

Both are scoped to the current key, as Flink's are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


class KeyedStore(Protocol[K, V]):
    """A map scoped to the current key (Flink's ``MapState``)."""

    def get(self, key: K) -> V | None: ...

    def put(self, key: K, value: V) -> None: ...

    def remove(self, key: K) -> None: ...

    def keys(self) -> Iterable[K]: ...

    def items(self) -> Iterable[tuple[K, V]]: ...


class TimerService(Protocol):
    """Event-time timers of the current key (Flink's ``TimerService``): a timer at ``t`` fires once the
    watermark reaches ``t``; registering the same time twice fires once."""

    def current_watermark(self) -> int: ...

    def register_event_time_timer(self, timestamp: int) -> None: ...


class WatermarkBuffer(Generic[R]):
    """Records held per event time until the watermark passes them, then released in event-time
    order (ties broken by ``tie``): how a keyed operator makes its results independent of arrival
    order. Stored as one value per event millisecond, so adding a record touches one entry.

    ``encode``/``decode`` turn a list of records into the stored value (a versioned record in the
    job, see :mod:`udfs.correlate.state`).
    """

    def __init__(self, encode: Callable[[list[R]], Any], decode: Callable[[Any], list[R]],
                 tie: Callable[[R], Any]) -> None:
        self.encode = encode
        self.decode = decode
        self.tie = tie

    def add(self, store: KeyedStore[int, Any], timers: TimerService, ts: int, record: R) -> None:
        """Hold ``record`` until the watermark reaches ``ts`` (a timer at ``ts`` says when)."""
        pending = self.decode(store.get(ts))
        pending.append(record)
        store.put(ts, self.encode(pending))
        timers.register_event_time_timer(ts)

    def release(self, store: KeyedStore[int, Any], up_to: int) -> list[R]:
        """Every record held at or before ``up_to``, removed from the store, in (time, tie) order."""
        due = sorted(t for t in store.keys() if t <= up_to)
        out: list[R] = []
        for t in due:
            out += sorted(self.decode(store.get(t)), key=self.tie)
            store.remove(t)
        return out
