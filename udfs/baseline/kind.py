"""Registers the ``baseline`` context kind and the ``technique_rarity`` factor with the context
mechanism (listed in :data:`udfs.context.live.KIND_MODULES`)."""

from __future__ import annotations

from udfs.baseline.factor import NAME, technique_rarity
from udfs.baseline.handler import KIND, apply_update, baselines_of
from udfs.context.live import LiveContext, register, register_factor
from udfs.score.formula import Factor
from udfs.score.scorer import ExtraFactor
from udfs.score.subject import Subject


def rarity_factor(live: LiveContext) -> ExtraFactor:
    def rarity(subject: Subject) -> Factor | None:
        # No baseline update yet (baselines off, or nothing counted so far): the factor is left out,
        # so a job without baselines scores as before; from the first update on it is always listed.
        baselines = baselines_of(live)
        return technique_rarity(baselines, subject) if baselines is not None else None

    return rarity


register(KIND, apply_update)  # type: ignore[arg-type]
register_factor(NAME, rarity_factor)
