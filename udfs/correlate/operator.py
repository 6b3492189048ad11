"""The keyed correlate operator without Flink: what happens when a routed record arrives and when an
event-time timer fires, for one (rule, group) key, on a :class:`~udfs.keyed.KeyedStore` and a
:class:`~udfs.keyed.TimerService`.

``udfs.flink_functions.Correlator`` binds Flink's MapState and timer service to it;
:mod:`udfs.testing.harness` binds in-memory ones, so the property tests run what the job runs. Its
state is the versioned records of :mod:`udfs.correlate.state`: ``buffer`` (records awaiting the
watermark) and ``partials`` (partial id -> partial match, and the key's group values).
"""

from __future__ import annotations

from typing import Any

from udfs.correlate.engine import Correlation, Output
from udfs.correlate.records import RoutedRecord
from udfs.correlate.runtime import Counters, Parts
from udfs.correlate.state import GROUP_ENTRY, decode_part, decode_records, encode_part, encode_records
from udfs.keyed import KeyedStore, TimerService, WatermarkBuffer

INNER_PREFIX = "correlation:"  # hit ids of inner correlations' matches (made by stage 1, never late)


def late_record(kind: str, payload: dict[str, Any], watermark: int, allowed_lateness_ms: int) -> dict[str, Any]:
    """What the ``late`` output carries: why, against which watermark, and the record itself."""
    return {"reason": "behind_watermark", "watermark_ms": watermark, "allowed_lateness_ms": allowed_lateness_ms,
            kind: payload}


def is_late(ts: int, watermark: int, allowed_lateness_ms: int) -> bool:
    """Flink's reading of a watermark W: no more records at or before W. A record at or behind it
    (less the allowed lateness) is late: Flink SQL's operators (MATCH_RECOGNIZE, windows) drop it."""
    return ts <= watermark - allowed_lateness_ms


class CorrelateOperator:
    def __init__(self, correlation: Correlation, allowed_lateness_ms: int) -> None:
        self.correlation = correlation
        self.lateness = allowed_lateness_ms
        self.buffer: WatermarkBuffer[RoutedRecord] = WatermarkBuffer(encode_records, decode_records,
                                                                     tie=lambda r: r["hit_id"])

    @property
    def counters(self) -> Counters:
        return self.correlation.counters

    def on_record(self, record: RoutedRecord, timers: TimerService,
                  buffer: KeyedStore[int, str]) -> dict[str, Any] | None:
        """Hold the record until the watermark passes it; the ``late`` record instead when it is behind."""
        watermark = timers.current_watermark()
        if not record["hit_id"].startswith(INNER_PREFIX) and is_late(record["ts"], watermark, self.lateness):
            self.counters.records_late += 1
            return late_record("record", dict(record), watermark, self.lateness)
        self.buffer.add(buffer, timers, record["ts"], record)
        return None

    def on_timer(self, key: str, timestamp: int, timers: TimerService, buffer: KeyedStore[int, str],
                 partials: KeyedStore[str, str]) -> Output:
        """Event time reached ``timestamp``: apply the records due, let time pass, store what changed,
        and ask for a timer at the next deadline."""
        records = self.buffer.release(buffer, timestamp)
        texts = dict(partials.items())
        group_text = texts.pop(GROUP_ENTRY, None)
        parts: Parts = {pid: decode_part(text) for pid, text in texts.items()}
        group = decode_part(group_text) if group_text is not None else None
        out, group, deadline = self.correlation.fire(key, group, parts, records, timestamp)
        _store(partials, texts, parts)
        if group is None:
            if group_text is not None:
                partials.remove(GROUP_ENTRY)
        elif group_text is None:
            partials.put(GROUP_ENTRY, encode_part(group))
        if deadline is not None:
            timers.register_event_time_timer(deadline)
        self.counters.alerts += len(out.alerts)
        return out


def _store(partials: KeyedStore[str, str], before: dict[str, str], parts: Parts) -> None:
    """Write back only what changed: MapState entries are separate values in the state backend."""
    for pid in before:
        if pid not in parts:
            partials.remove(pid)
    for pid, part in parts.items():
        text = encode_part(part)
        if before.get(pid) != text:
            partials.put(pid, text)
