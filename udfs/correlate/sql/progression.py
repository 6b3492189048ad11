"""A tactic progression rule: the JVM aggregate ``tactic_progression`` over each group's hits.

The aggregate (``udfs/jvm``, io.ttpflow.udf.TacticProgression) is a port of the reference engine's
table of best chains. It runs as an unbounded OVER aggregation, which Flink feeds in event-time
order once the watermark passes; rows of one timestamp come in arrival order there, so a
MATCH_RECOGNIZE of one row per match first puts each group's hits in (time, hit id) order, the
reference's order.
"""

from __future__ import annotations

from schemas.rules import TacticProgressionRule
from udfs.correlate.sql.common import group_exprs, ordered_aggregate_sql, quote, rule_rows

FUNCTION = "tactic_progression"
JAVA_CLASS = "io.ttpflow.udf.TacticProgression"


def progression_sql(rule: TacticProgressionRule, order: list[str], source: str = "linked") -> str:
    """A SELECT yielding :data:`udfs.correlate.sql.common.MATCH_COLUMNS`; ``order``: the tactics the
    rule counts, in kill-chain order."""
    key, kind = group_exprs(rule.id, rule.group_by)
    tactics = f"keys[{quote(rule.id + '@tactics')}] AS tac"
    args = (f"ts, id, tac, bundle, CAST({rule.within_ms} AS BIGINT), {rule.min_tactics}, "
            f"{'TRUE' if rule.ordered else 'FALSE'}, {quote(','.join(order))}")
    rows = rule_rows(rule.id, key, kind, source, tactics)
    return ordered_aggregate_sql(rule.id, rows, f"{FUNCTION}({args})", "X.tac AS tac")
