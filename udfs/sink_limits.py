"""What one record may put into a Kafka output: no record may stop the job by its size.

The Kafka sinks refuse a record above ``max.request.size`` (1 MiB by default), and a refused
record fails the job, which would restart on the same record until its attempts run out. The
analyze step checks its hit rows against ``output_max_bytes`` before they leave it:

- a hit's **signal** (the signals output, and the late output, which wraps it in ~100 bytes);
- a hit's **share of an alert**: its names (host, user, the subjects linking looks up) and
  evidence entry; an alert names its entity and carries up to :data:`MAX_EVIDENCE` entries, so
  each hit gets ``output_max_bytes / (MAX_EVIDENCE + 2)``.

A record over either goes to the dead letter (``oversized_output``, with which and how large)
instead; dead letters bound themselves (:class:`schemas.dead_letter.DeadLetter`). The normalized
events output exists only in file runs, whose file sinks take records of any size. Lengths are
checked in characters first (UTF-8 takes at most 4 bytes a character), so the usual hit costs a
few ``len`` calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.config import JobConfig
from udfs.correlate.drafts import MAX_EVIDENCE

_SIGNAL, _RULE, _KEYS = -1, 4, 6  # hit row columns (udfs.analyze.COLUMNS): signal, rule_id, keys


@dataclass(frozen=True)
class SinkLimits:
    signal_max_bytes: int
    hit_max_bytes: int

    @classmethod
    def of(cls, config: JobConfig) -> SinkLimits:
        return cls(config.output_max_bytes, config.output_max_bytes // (MAX_EVIDENCE + 2))

    def check(self, rows: Iterable[tuple[Any, ...]]) -> str | None:
        """Why these analyzed rows could not all leave through the sinks, or None."""
        for row in rows:
            if row[0] == "hit" or row[0] == "held":
                why = self.check_hit(row)
                if why:
                    return why
        return None

    def check_hit(self, row: tuple[Any, ...]) -> str | None:
        signal: str = row[_SIGNAL]
        cap = self.signal_max_bytes
        if len(signal) * 4 > cap and len(signal.encode()) > cap:
            return (f"the signal of rule {row[_RULE]} would be {len(signal.encode())} bytes, cap is {cap} "
                    "(--output-max-bytes)")
        names = [v for v in row[:_SIGNAL] if type(v) is str]
        names += [text for pair in (row[_KEYS] or {}).items() for text in pair if type(text) is str]
        cap = self.hit_max_bytes
        if sum(map(len, names)) * 4 > cap:
            size = sum(len(v.encode()) for v in names)
            if size > cap:
                return (f"the hit of rule {row[_RULE]} carries {size} bytes of names and evidence, cap is {cap} "
                        f"a hit (an alert holds up to {MAX_EVIDENCE}: --output-max-bytes / {MAX_EVIDENCE + 2})")
        return None
