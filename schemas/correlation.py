"""A Sigma correlation rule as the correlate stage runs it: parsed by pySigma, references resolved.

pySigma objects are not what travels to the workers: this plain model is (picklable, no parser
state), built by :mod:`udfs.correlate.sigma_load`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CorrelationType = Literal[
    "event_count", "value_count", "temporal", "temporal_ordered", "value_sum", "value_avg", "value_percentile",
    "value_median",
]
Operator = Literal["gt", "gte", "lt", "lte", "eq", "neq"]


class RuleRef(BaseModel):
    """One entry of ``correlation.rules``: which hits (or inner correlation matches) it stands for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(description="as written in the rule: an id or a name")
    ids: tuple[str, ...] = Field(description="hit rule_id values that match (the Sigma rule's id)")
    titles: tuple[str, ...] = Field(default=(), description="hit rule_title values that match")
    name: str | None = Field(default=None, description="the referenced rule's name: aliases use it")
    correlation: bool = Field(default=False, description="refers to another correlation rule (a chain)")


class CorrelationCondition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ops: dict[Operator, float] = Field(default_factory=dict, description="all must hold (a range is two)")
    fields: tuple[str, ...] = Field(default=(), description="value_* types: the field(s) aggregated")
    percentile: int | None = Field(default=None, ge=0, le=100)
    expression: str | None = Field(default=None, description="extended temporal condition over rule names")
    tree: list[Any] | None = Field(default=None, description='the expression parsed: ["and", ["ref", "a"], ...]')

    def holds(self, value: float) -> bool:
        for op, bound in self.ops.items():
            if op == "gt" and not value > bound:
                return False
            if op == "gte" and not value >= bound:
                return False
            if op == "lt" and not value < bound:
                return False
            if op == "lte" and not value <= bound:
                return False
            if op == "eq" and value != bound:
                return False
            if op == "neq" and value == bound:
                return False
        return True

    @property
    def lower_bounds_only(self) -> bool:
        """A condition that, once true, stays true as more events arrive (counts only grow)."""
        return bool(self.ops) and set(self.ops) <= {"gt", "gte"}


class SigmaCorrelation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str | None = None
    title: str
    type: CorrelationType
    refs: tuple[RuleRef, ...]
    group_by: tuple[str, ...] = ()
    aliases: dict[str, dict[str, str]] = Field(default_factory=dict, description="alias -> {rule ref: field}")
    timespan_ms: int = Field(gt=0)
    condition: CorrelationCondition
    generate: bool = False
    level: Literal["informational", "low", "medium", "high", "critical"] = "high"
    taxonomy: str = "sigma"
    source: str = Field(description="file:line of the rule document, for messages")
    stage: int = Field(default=1, description="1: over detection hits; 2: over other correlations' matches")
