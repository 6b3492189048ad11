"""What the job knows of analysts' verdicts: one verdict per alert id, and the true- and
false-positive counts per rule and per (rule, entity) that the ``analyst_feedback`` factor reads.

Kept in ``LiveContext.extras["verdict"]`` (udfs.context), fed by the context broadcast: each
update is the latest verdict on one alert (kind ``verdict``, key the alert id). A second verdict on
the same alert replaces the first (an analyst who changes their mind, a redelivered record), so an
alert counts once: the verdict that arrived last wins, which is also the one the broadcast state
keeps (its key is the alert id) and a restored job rebuilds from. No pyflink here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KIND = "verdict"


@dataclass
class Counts:
    true_positive: int = 0
    false_positive: int = 0

    @property
    def total(self) -> int:
        return self.true_positive + self.false_positive

    def add(self, verdict: str, step: int) -> None:
        if verdict == "false_positive":
            self.false_positive += step
        else:
            self.true_positive += step


@dataclass(frozen=True)
class Held:
    """One alert's verdict, as counted."""

    rule_id: str
    entity_type: str
    entity: str
    verdict: str


class VerdictStore:
    def __init__(self) -> None:
        self.alerts: dict[str, Held] = {}
        self.rules: dict[str, Counts] = {}
        self.entities: dict[tuple[str, str], Counts] = {}

    def apply(self, alert_id: str, value: dict[str, Any] | None) -> None:
        """``value`` (the update's value: rule_id, entity_type, entity, verdict, ...) replaces what
        was held for ``alert_id``; None forgets it."""
        old = self.alerts.pop(alert_id, None)
        if old is not None:
            self._count(old, -1)
        if value is None:
            return
        held = Held(str(value["rule_id"]), str(value.get("entity_type") or "entity"), str(value["entity"]),
                    str(value["verdict"]))
        self.alerts[alert_id] = held
        self._count(held, +1)

    def rule(self, rule_id: str) -> Counts:
        return self.rules.get(rule_id) or Counts()

    def entity(self, rule_id: str, entity: str) -> Counts:
        return self.entities.get((rule_id, entity)) or Counts()

    def _count(self, held: Held, step: int) -> None:
        for counts, key in ((self.rules, held.rule_id), (self.entities, (held.rule_id, held.entity))):
            found = counts.setdefault(key, Counts())  # type: ignore[arg-type]
            found.add(held.verdict, step)
            if found.total == 0:
                del counts[key]  # type: ignore[arg-type]
