"""The keyed correlate operator without Flink: what happens when a record arrives and when a timer
fires, on state passed in as plain mappings. ``udfs.flink_functions.Correlator`` adapts Flink state to
it; :mod:`udfs.correlate.harness` drives it with dicts, so tests run the same code the job runs.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from udfs.correlate.engine import Correlation, Output
from udfs.correlate.runtime import Parts

Buffer = MutableMapping[int, list[dict[str, Any]]]


def late_record(kind: str, payload: dict[str, Any], watermark: int, allowed_lateness_ms: int) -> dict[str, Any]:
    """What the ``late`` output carries: why, against which watermark, and the record itself."""
    return {"reason": "behind_watermark", "watermark_ms": watermark, "allowed_lateness_ms": allowed_lateness_ms,
            kind: payload}


def is_late(ts: int, watermark: int, allowed_lateness_ms: int) -> bool:
    """Flink's reading of a watermark W: no more records at or before W. A record at or behind it
    (less the allowed lateness) is late: Flink SQL's operators (MATCH_RECOGNIZE, windows) drop it."""
    return ts <= watermark - allowed_lateness_ms


class CorrelatorCore:
    def __init__(self, correlation: Correlation) -> None:
        self.correlation = correlation

    def fire(self, key: str, timestamp: int, buffer: Buffer, parts: Parts) -> tuple[Output, int | None]:
        """Event time reached ``timestamp`` for ``key``: feed the buffered records up to it in
        (time, hit id) order, then let time pass. Returns the outputs and the next deadline."""
        due = sorted(ts for ts in buffer if ts <= timestamp)
        records: list[dict[str, Any]] = []
        for ts in due:
            records += sorted(buffer.pop(ts), key=lambda r: r["hit_id"])
        return self.correlation.fire(key, parts, records, timestamp)
