"""Severity: one documented formula (docs/scoring.md) over hits (the signals' ``risk``) and alerts.

- :mod:`udfs.score.formula`: base from the rule level, times one weight per factor; the labels.
- :mod:`udfs.score.factors`: the factors, one pure function each.
- :mod:`udfs.score.subject`: what the factors read (observations with their context resolved).
- :mod:`udfs.score.roles`: the role x technique table (``rules/scoring/role_techniques.yaml``).
- :mod:`udfs.score.assurance`: identity assurance from the events' authentication facts.
- :mod:`udfs.score.scorer`: :class:`Scorer`, which resolves context and applies the formula.
"""

from __future__ import annotations

from typing import Any

from udfs.detect.catalog import Catalog
from udfs.score.formula import BASE_SCORE, LABEL_FLOORS, label_for
from udfs.score.scorer import ExtraFactor, Scorer

__all__ = ["BASE_SCORE", "LABEL_FLOORS", "ExtraFactor", "Scorer", "label_for", "score_alert"]


def score_alert(draft: dict[str, Any], catalog: Catalog | None = None, scorer: Scorer | None = None) -> dict[str, Any]:
    """A draft's alert with ``scorer`` (default: no inventory, no role table: context factors neutral)."""
    return (scorer or Scorer(catalog=catalog)).alert(draft)
