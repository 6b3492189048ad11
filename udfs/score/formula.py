"""The severity formula (docs/scoring.md): a base from the rule's level, times one weight per factor.

    score = clamp(0, 100, round(base(level) x w_1 x w_2 x ... x w_n))

Each weight is rounded to two decimals before it is multiplied in, so that a reader can redo the
product from the numbers in ``severity.factors``. A factor with nothing to go on has weight 1.0 and
says why. The label follows the score: critical >= 85, high >= 65, medium >= 45, low >= 25.
"""

from __future__ import annotations

from typing import TypedDict

BASE_SCORE = {"informational": 10, "low": 25, "medium": 45, "high": 65, "critical": 80}
LABEL_FLOORS = [(85, "critical"), (65, "high"), (45, "medium"), (25, "low"), (0, "informational")]


class Factor(TypedDict):
    name: str
    weight: float
    reason: str


class SeverityDict(TypedDict):
    score: int
    label: str
    base: int
    factors: list[Factor]


def label_for(score: int) -> str:
    return next(label for floor, label in LABEL_FLOORS if score >= floor)


def factor(name: str, weight: float, reason: str) -> Factor:
    return {"name": name, "weight": round(weight, 2), "reason": reason}


def base_factor(level: str) -> tuple[int, Factor]:
    base = BASE_SCORE.get(level, BASE_SCORE["medium"])
    return base, factor("rule_level", 1.0, f"rule level {level} sets the base score {base}")


def combine(base: int, factors: list[Factor]) -> SeverityDict:
    score = float(base)
    for f in factors:
        score *= f["weight"]
    final = max(0, min(100, round(score)))
    return {"score": final, "label": label_for(final), "base": base, "factors": factors}
