"""The ``analyst_feedback`` factor (docs/scoring.md, "Analyst feedback"): an alert of a rule that
analysts keep marking false positive weighs less, on the entity where they did most.

    rule rate   = fp_rule / (n_rule + K)                       (K = PRIOR_VERDICTS, prior rate 0)
    entity rate = (fp_entity + K x rule rate) / (n_entity + K)
    weight      = 1 - MAX_DISCOUNT x entity rate               (0.6 .. 1.0)

Bayesian smoothing with a prior worth K verdicts: with no verdicts an alert is taken at face value
(weight 1.0); one false positive does not halve a rule; the rule's rate is the prior of each of its
entities, so the (rule, entity) rate takes over as that entity gathers verdicts of its own, and an
entity with none gets the rule's. True positives only pull the rate down: feedback never raises a
score (the other factors say how bad an alert is; feedback says how often this kind was noise).
Only alerts are weighed (a subject with a ``rule_id``); signals get no such factor.
"""

from __future__ import annotations

from typing import Any

from udfs.feedback.store import KIND, Counts, VerdictStore
from udfs.score.formula import Factor, factor
from udfs.score.subject import Subject

NAME = "analyst_feedback"
PRIOR_VERDICTS = 3
MAX_DISCOUNT = 0.4


def rates(rule: Counts, entity: Counts, k: int = PRIOR_VERDICTS) -> tuple[float, float]:
    """(the rule's smoothed false-positive rate, the (rule, entity) one)."""
    rule_rate = rule.false_positive / (rule.total + k)
    return rule_rate, (entity.false_positive + k * rule_rate) / (entity.total + k)


def feedback_factor(store: VerdictStore | None, subject: Subject) -> Factor | None:
    if not subject.rule_id:
        return None
    rule = store.rule(subject.rule_id) if store is not None else Counts()
    if rule.total == 0:
        return factor(NAME, 1.0, "no analyst verdicts on alerts of this rule yet")
    entity_name = subject.entity or "?"
    entity = store.entity(subject.rule_id, entity_name) if store is not None else Counts()
    _, rate = rates(rule, entity)
    where = f"{subject.entity_type or 'entity'} {entity_name}"
    overall = f"{rule.false_positive} of {rule.total} of the rule's alerts overall"
    if entity.total:
        said = f"analysts marked {entity.false_positive} of {entity.total} alerts of this rule on {where} " \
               f"false positive ({overall})"
    else:
        said = f"analysts marked {rule.false_positive} of {rule.total} alerts of this rule false positive, " \
               f"none yet on {where}"
    weight = 1 - MAX_DISCOUNT * rate
    return factor(NAME, weight, f"{said}: false-positive rate {rate:.2f} after smoothing with "
                                f"{PRIOR_VERDICTS} prior verdicts, weight 1 - {MAX_DISCOUNT} x {rate:.2f}")


class AnalystFeedback:
    """The ExtraFactor over a live context (udfs.context.live): reads the store the broadcast keeps in
    ``live.extras["verdict"]`` at each call. The store appears with the job's first verdict; until then
    the factor is left out, so a job without ``--feedback-topic`` scores exactly as before, and from
    then on every alert lists it (neutral for a rule with no verdicts)."""

    def __init__(self, live: Any) -> None:
        self.live = live

    def __call__(self, subject: Subject) -> Factor | None:
        store = self.live.extras.get(KIND)
        return None if store is None else feedback_factor(store, subject)
