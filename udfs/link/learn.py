"""The learner: per subject, binding facts in event-time order -> the points worth telling every
link replica about (a change, a refresh, an end).

Most facts repeat what is known (every Sysmon network event of a host restates its address), so the
learner keeps the last point it emitted and only emits again when the value changes, or when
``refresh`` has passed (so that a binding still seen stays younger than ``max_age`` in the table).
Facts are taken in (time, value, via) order after the watermark passes them, so the points emitted
do not depend on arrival order.
"""

from __future__ import annotations

from typing import Any


class Learner:
    def __init__(self, max_age_ms: int) -> None:
        self.max_age = max_age_ms
        # Every fact at a new time is a point: the job links in SQL against the latest fact per
        # subject (a versioned view), so "younger than max_age" counts from the latest fact.
        self.refresh = 1

    def learn(self, last: dict[str, Any] | None, facts: list[dict[str, Any]]) -> tuple[dict[str, Any] | None,
                                                                                      list[dict[str, Any]]]:
        """(new last point, points to emit) for one subject's due facts."""
        emitted: list[dict[str, Any]] = []
        for f in sorted(facts, key=lambda f: (f["ts"], f["value"] or "", f["via"])):
            value, ts = f["value"], f["ts"]
            if value is None:
                if last is not None and last["value"] is not None and last["value"] == f.get("if_value"):
                    last = {"value": None, "ts": ts}
                    emitted.append({**f})
                continue
            if last is None or last["value"] != value or ts - last["ts"] >= self.refresh:
                last = {"value": value, "ts": ts}
                emitted.append({k: v for k, v in f.items() if k != "if_value"})
        return last, emitted
