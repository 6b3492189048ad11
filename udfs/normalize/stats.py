"""Per-format counters of what normalize did: read, normalized, dead-lettered by reason.

The CLI prints them as its summary; the Flink wrapper turns the same keys into metrics
(``normalize.<format>.read``, ``normalize.<format>.normalized``, ``normalize.<format>.dead_letter.<reason>``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from udfs.normalize.normalizer import Outcome

UNDETECTED = "undetected"  # records no format claimed (not JSON, unknown_format, ...)


@dataclass
class FormatStats:
    read: int = 0
    normalized: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)

    @property
    def dead(self) -> int:
        return sum(self.dead_lettered.values())


@dataclass
class NormalizeStats:
    formats: dict[str, FormatStats] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> None:
        fmt = outcome.source_format or UNDETECTED
        stats = self.formats.get(fmt)
        if stats is None:
            stats = self.formats[fmt] = FormatStats()
        stats.read += 1
        if outcome.event is not None:
            stats.normalized += 1
        elif outcome.dead_letter is not None:
            stats.dead_lettered[outcome.dead_letter["reason"]] += 1

    @property
    def read(self) -> int:
        return sum(s.read for s in self.formats.values())

    @property
    def normalized(self) -> int:
        return sum(s.normalized for s in self.formats.values())

    @property
    def dead(self) -> int:
        return sum(s.dead for s in self.formats.values())

    def metrics(self) -> dict[str, int]:
        """Flat counter names and values, for Flink metric groups or a JSON log line."""
        out: dict[str, int] = {}
        for fmt, stats in sorted(self.formats.items()):
            out[f"normalize.{fmt}.read"] = stats.read
            out[f"normalize.{fmt}.normalized"] = stats.normalized
            for reason, count in sorted(stats.dead_lettered.items()):
                out[f"normalize.{fmt}.dead_letter.{reason}"] = count
        return out

    def table(self) -> str:
        """A human summary: one line per format, then the total."""
        rows = [("format", "read", "normalized", "dead-lettered")]
        for fmt, stats in sorted(self.formats.items()):
            reasons = ", ".join(f"{r}={c}" for r, c in sorted(stats.dead_lettered.items()))
            rows.append(
                (fmt, str(stats.read), str(stats.normalized), f"{stats.dead}" + (f" ({reasons})" if reasons else ""))
            )
        rows.append(("total", str(self.read), str(self.normalized), str(self.dead)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows)
