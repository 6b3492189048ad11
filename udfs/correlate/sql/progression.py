"""A tactic progression rule: the JVM aggregate ``tactic_progression`` over each group's hits.

The aggregate (``udfs/jvm``, io.ttpflow.udf.TacticProgression) is a port of the reference engine's
table of best chains. It runs as an unbounded OVER aggregation, which Flink feeds in event-time
order once the watermark passes; rows of one timestamp come in arrival order there, so a
MATCH_RECOGNIZE of one row per match first puts each group's hits in (time, hit id) order, the
reference's order.
"""

from __future__ import annotations

from schemas.rules import TacticProgressionRule
from udfs.correlate.sql.common import group_exprs, quote, rule_rows

FUNCTION = "tactic_progression"
JAVA_CLASS = "io.ttpflow.udf.TacticProgression"


def progression_sql(rule: TacticProgressionRule, order: list[str], source: str = "linked") -> str:
    """A SELECT yielding :data:`udfs.correlate.sql.common.MATCH_COLUMNS`; ``order``: the tactics the
    rule counts, in kill-chain order."""
    key, kind = group_exprs(rule.id, rule.group_by)
    tactics = f"keys[{quote(rule.id + '@tactics')}] AS tac"
    args = (f"ts, id, tac, bundle, CAST({rule.within_ms} AS BIGINT), {rule.min_tactics}, "
            f"{'TRUE' if rule.ordered else 'FALSE'}, {quote(','.join(order))}")
    return f"""SELECT {quote(rule.id)} AS rule_id, gkey, gkind, links FROM (
  SELECT gkey, gkind, {FUNCTION}({args})
         OVER (PARTITION BY gkey ORDER BY rt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS links
  FROM (
    SELECT * FROM (
{rule_rows(rule.id, key, kind, source, tactics)}
    ) MATCH_RECOGNIZE (
      PARTITION BY gkey
      ORDER BY rt, id
      MEASURES MATCH_ROWTIME(rt) AS rt, X.ts AS ts, X.id AS id, X.bundle AS bundle, X.gkind AS gkind, X.tac AS tac
      ONE ROW PER MATCH
      AFTER MATCH SKIP PAST LAST ROW
      PATTERN (X)
      DEFINE X AS TRUE
    )
  )
) WHERE links IS NOT NULL"""
