"""Which rules hold state in a job, and what a resume does to the state of rules that changed.

Flink names a savepoint's operators by a hash of their uids, so it can only say "state for operator
<hash> has no place in the new program". ttpflow records, at submission, each stateful rule and the
uid prefix of its operators (``rule-<id>-<digest of its SQL>``; Python-path rules share the keyed
correlator's state), carries that record into the savepoint, and on resume compares it with the rules
the new job runs: a rule removed, or whose logic (SQL) changed, leaves state the new job cannot
restore. Without ``--allow-non-restored-state`` the resume is refused naming those rules; with it,
each rule whose state is dropped is named and counted. Kept free of pyflink.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

PYTHON_PATH = "python"  # the rule's partial matches live in the Python keyed correlator's state


def rule_operators(job_args: list[str]) -> dict[str, str]:
    """Rule id -> the uid prefix of its state, for the job these arguments start."""
    from jobs.options import add_kafka_job_args, config_from_args
    from udfs.correlate.plan import CorrelationPlan
    from udfs.correlate.rules import load_ruleset
    from udfs.correlate.sql.queries import (
        jvm_rule_queries,
        network_rule_queries,
        ordered_rule_queries,
        rule_prefix,
    )
    from udfs.network.rules import load_network_rules

    parser = argparse.ArgumentParser(add_help=False)
    add_kafka_job_args(parser)
    config = config_from_args(parser.parse_known_args(job_args)[0])
    plan = CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths))
    queries = jvm_rule_queries(plan) | ordered_rule_queries(plan)
    network = network_rule_queries(load_network_rules(config.rules_dir))
    queries |= {rule_id: query for rule_id, (_, query) in network.items()}
    operators = {rule_id: rule_prefix(rule_id, query) for rule_id, query in queries.items()}
    python = plan.python
    operators |= {rule.id: PYTHON_PATH
                  for rule in [*python.sequences, *python.progressions, *python.correlations, *python.risks]}
    return dict(sorted(operators.items()))


@dataclass(frozen=True)
class DroppedRule:
    rule_id: str
    why: str  # "removed" | "changed" | "moved"

    def __str__(self) -> str:
        return f"{self.rule_id} ({REASONS[self.why]})"


REASONS = {
    "removed": "no longer in the rule packs",
    "changed": "its logic changed: its SQL differs, it starts over",
    "moved": "it moved between the JVM and the Python path",
}


def dropped_rules(recorded: dict[str, str], running: dict[str, str]) -> list[DroppedRule]:
    """The recorded rules whose state the new job will not take up."""
    out = []
    for rule_id, prefix in sorted(recorded.items()):
        now = running.get(rule_id)
        if now is None:
            out.append(DroppedRule(rule_id, "removed"))
        elif now != prefix:
            out.append(DroppedRule(rule_id, "moved" if PYTHON_PATH in (now, prefix) else "changed"))
    return out


def needs_allow(dropped: list[DroppedRule], recorded: dict[str, str]) -> list[DroppedRule]:
    """Those Flink would refuse: a JVM rule's operators with nowhere to go. A Python-path rule's
    partial matches sit in the shared correlator's state, which restores; the correlator drops them
    itself, counted as expired (udfs.correlate.engine)."""
    return [d for d in dropped if recorded[d.rule_id] != PYTHON_PATH]
