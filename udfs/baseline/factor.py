"""``technique_rarity``: a technique routinely seen on a role weighs less there, one never seen on a
warmed-up role weighs more (docs/scoring.md, "Adaptive baselines").

Per (scope, technique) pair of the subject, with ``share`` = the technique's decayed count over the
scope's decayed total: ``weight = RARE - (RARE - ROUTINE) x min(1, share / ROUTINE_SHARE)``, so a
technique making a fifth or more of what the role does weighs 0.8, one never seen 1.2, and the rest
in between. As for ``role_technique`` the heaviest pair counts: a routine first step never discounts
a rare second one. A scope still warming up, or with no baseline yet, counts as a neutral pair.
"""

from __future__ import annotations

from collections.abc import Callable

from udfs.baseline.keys import scope_of
from udfs.baseline.state import HOUR_MS, Baselines
from udfs.score.formula import Factor, factor
from udfs.score.subject import Subject

NAME = "technique_rarity"
ROUTINE = 0.8
RARE = 1.2
ROUTINE_SHARE = 0.2


def _days(ms: int) -> str:
    days = ms / (24 * HOUR_MS)
    return f"{days:g} days" if days >= 1 else f"{ms / HOUR_MS:g} hours"


def _verdict(weight: float) -> str:
    return "routine" if weight < 1.0 else "rare" if weight >= RARE - 0.05 else "seen now and then"


def technique_rarity(baselines: Baselines | None, subject: Subject) -> Factor:
    """The factor over ``baselines`` (None: no baseline update has arrived yet)."""
    pairs: list[tuple[float, str]] = []
    neutral: list[str] = []
    for obs in subject.observations:
        scope_name = scope_of(obs.host, subject.assets.get(obs.host) if obs.host else None)
        if scope_name is None or not obs.techniques:
            continue
        where = scope_name.replace(":", " ", 1)
        scope = baselines.scopes.get(scope_name) if baselines is not None else None
        if scope is None:
            neutral.append(f"no baseline yet for {where}")
            continue
        if not baselines.warm(scope):  # type: ignore[union-attr]
            s = baselines.settings  # type: ignore[union-attr]
            neutral.append(f"baseline warming up for {where}: {int(scope.hours_seen())} of {s.warmup_ms // HOUR_MS} "
                           f"hours seen, {scope.total_hits()} of {s.min_hits} hits")
            continue
        total = scope.total()
        half_life = _days(baselines.settings.half_life_ms)  # type: ignore[union-attr]
        for t in obs.techniques:
            count = scope.counts.get(t, 0.0)
            share = count / total if total > 0 else 0.0
            weight = RARE - (RARE - ROUTINE) * min(1.0, share / ROUTINE_SHARE)
            if count == 0.0:
                why = (f"{t} never seen on {where} in {scope.hours_seen():.0f} hours of baseline "
                       f"({total:.1f} decayed hits of other techniques): rare there")
            else:
                why = (f"{t} on {where}: decayed count {count:.1f} of {total:.1f} ({share:.0%}, half-life "
                       f"{half_life}): {_verdict(weight)} there")
            pairs.append((weight, why))
    best = max(pairs, default=None, key=lambda p: p[0])
    if best is not None and (best[0] > 1.0 or not neutral):
        return factor(NAME, best[0], best[1])
    if neutral:
        return factor(NAME, 1.0, "; ".join(dict.fromkeys(neutral)) + ": neutral")
    return factor(NAME, 1.0, "no host and technique to weigh against a baseline: neutral")


def extra_factor(get: Callable[[], Baselines | None]) -> Callable[[Subject], Factor]:
    """An :class:`udfs.score.scorer.ExtraFactor` reading the baselines ``get`` returns at each call
    (the live context's ``extras["baseline"]``, which updates replace under it)."""
    return lambda subject: technique_rarity(get(), subject)
