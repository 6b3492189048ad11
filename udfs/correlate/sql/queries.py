"""Every stateful rule's query, by rule id, as the job plans it, and the uid prefix its operators get.

One place for both the job graph (jobs.pipeline) and the client (jobs.rule_state), so what
``ttpflow stop`` records of a savepoint's rules is exactly what the job ran: a rule's operators are
named after its id and a digest of its SQL (``rule-<id>-<digest>``), so a rule whose SQL changed
is a rule whose old state no longer maps.
"""

from __future__ import annotations

import hashlib

from schemas.network import NetworkRule
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.sql import progression, sigma
from udfs.correlate.sql.risk import risk_sql
from udfs.correlate.sql.sequence import sequence_sql
from udfs.network import sql as network_sql
from udfs.network.behavior import WINDOWED

CHAINED_VIEW = "chained"  # the inner correlations' matches, as rows of the rules over them


def rule_prefix(rule_id: str, sql: str) -> str:
    return f"rule-{rule_id}-{hashlib.sha256(sql.encode()).hexdigest()[:10]}"


def jvm_rule_queries(plan: CorrelationPlan) -> dict[str, str]:
    """The JVM rules that read the linked hits: sequences, tactic progressions, sliding Sigma
    correlations and risk thresholds."""
    queries = {r.id: sequence_sql(r) for r in plan.jvm_sequences}
    queries |= {r.id: progression.progression_sql(r, plan.tactic_order(r.id)) for r in plan.jvm_progressions}
    queries |= {r.id: sigma.sliding_sql(r) for r in plan.jvm_sliding}
    queries |= {r.id: risk_sql(r) for r in plan.jvm_risks}
    return queries


def ordered_rule_queries(plan: CorrelationPlan) -> dict[str, str]:
    """The temporal_ordered Sigma correlations, as sequences; those over inner correlations also read
    :data:`CHAINED_VIEW`."""
    return {
        rule.id: sequence_sql(sigma.as_sequence(rule), group_by=list(rule.group_by),
                              chained=CHAINED_VIEW if any(ref.correlation for ref in rule.refs) else None)
        for rule in plan.jvm_ordered
    }


def network_rule_queries(rules: list[NetworkRule]) -> dict[str, tuple[str, str]]:
    """The windowed network rules: rule id -> (the view of its connections, its window query)."""
    return {rule.id: (f"network_conns_{n}", network_sql.window_sql(rule, f"network_conns_{n}"))
            for n, rule in enumerate(r for r in rules if r.analytic in WINDOWED)}
