"""The job's network windows in Python, for the reference and tests: tumbling windows aligned to the
epoch (the job runs its SQL in UTC), a connection dropped when its window has already fired (as
Flink's window operator drops it), a window decided once the watermark reaches its last millisecond."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from udfs.network.behavior import Connection, NetworkBehavior, group_key


@dataclass
class _Window:
    count: int = 0
    total_bytes: int = 0
    times: list[int] = field(default_factory=list)


class NetworkWindows:
    def __init__(self, behavior: NetworkBehavior) -> None:
        self.behavior = behavior
        self.open: dict[tuple[str, str, int], _Window] = {}  # (rule, group key, window end)
        self.dropped = 0

    def add(self, conn: Connection, watermark: int) -> None:
        """One connection, arriving while the (SQL) watermark is ``watermark``."""
        for rule_id in self.behavior.feeds(conn):
            size = self.behavior.rules[rule_id].window_ms
            end = conn.ts - conn.ts % size + size
            if end - 1 <= watermark:
                self.dropped += 1
                continue
            window = self.open.setdefault((rule_id, group_key(self.behavior.rules[rule_id], conn), end), _Window())
            window.count += 1
            window.total_bytes += conn.bytes_out or 0
            window.times.append(conn.ts)

    def due(self, watermark: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(hit, summary event) of every window the watermark closes, in (end, rule, key) order."""
        out = []
        closing = sorted((k for k in self.open if k[2] - 1 <= watermark), key=lambda k: (k[2], k[0], k[1]))
        for rule_id, gkey, end in closing:
            w = self.open.pop((rule_id, gkey, end))
            found = self.behavior.window_hit(rule_id, gkey, end, w.count, w.total_bytes,
                                             ",".join(str(t) for t in w.times))
            if found is not None:
                out.append(found)
        return out
