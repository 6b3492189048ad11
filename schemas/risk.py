"""Risk-based alerting: a ``risk_threshold`` rule (``rules/risk/*.yaml``).

Every technique hit leaves the job as a signal carrying its ``risk`` (udfs.score). A risk rule sums
the risk scores of one entity's signals over a sliding event-time window and raises one alert when
the sum reaches its threshold (Splunk's risk-based alerting): many weak signals on one host make an
alert that none of them makes alone. How it runs: :mod:`udfs.correlate.sql.risk` (the job, in
Flink SQL) and :mod:`udfs.correlate.risk` (the reference engine); the re-arm rule is documented in
``docs/scoring.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.rules import LEVELS, HitMatcher, Level, _check_duration, duration_ms

RiskEntity = Literal["host", "user", "entity", "ip", "cloud_principal"]
# The group-by each entity stands for: the linked host / user (udfs.link), the host else the user,
# or the event field that names the address / cloud principal.
ENTITY_GROUP_BY: dict[str, str] = {
    "host": "host", "user": "user", "entity": "entity", "ip": "source.ip", "cloud_principal": "cloud.principal",
}


class RiskSignals(HitMatcher):
    """Which signals count: risk label at least ``min_label``, and (when given) any of the techniques,
    tactics or rule ids, and every ``where`` predicate. Nothing given: every signal of that label."""

    min_label: Level = Field(default="informational", description="the least risk label that counts")


class RiskThresholdRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["risk_threshold"]
    id: str = Field(min_length=1)
    title: str
    description: str | None = None
    level: Level = "high"
    entity: RiskEntity = Field(default="host", description="whose risk accumulates")
    window: str | int = Field(description="the sliding event-time window, e.g. 24h")
    threshold: int = Field(ge=1, le=1_000_000, description="the sum of risk scores that raises the alert")
    min_signals: int = Field(default=1, ge=1, le=1000, description="and at least this many signals")
    signals: RiskSignals = Field(default_factory=RiskSignals)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        return _check_duration(value)  # type: ignore[return-value]

    @property
    def window_ms(self) -> int:
        return duration_ms(self.window)

    @property
    def group_by(self) -> str:
        return ENTITY_GROUP_BY[self.entity]

    @property
    def min_rank(self) -> int:
        return LEVELS.index(self.signals.min_label)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        return []
