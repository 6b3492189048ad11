"""A two-step sequence rule as MATCH_RECOGNIZE, with the reference engine's semantics.

Per group (PARTITION BY the group key) and in event-time order (ties by hit id, as the reference
orders them), the pattern ``A Z*? B`` finds the earliest first step that a second step completes;
``Z`` skips hits of the group that take no part. The window is checked exactly in DEFINE
(``B.ts - A.ts <= within``: the reference keeps a hit exactly ``within`` after the first), and
``WITHIN`` (a second longer) lets Flink drop partial matches that can no longer complete.
``AFTER MATCH SKIP TO LAST B`` is the reference's "one alert per completing hit; every partial
that started no later is subsumed": matching resumes at the completing hit, which may start the
next match itself.
"""

from __future__ import annotations

import math

from schemas.rules import SequenceRule
from udfs.correlate.sql.common import GS, RS, group_exprs, interval_sql, quote, rule_rows


def sequence_sql(rule: SequenceRule, source: str = "linked", group_by: str | list[str] | None = None,
                 chained: str | None = None) -> str:
    """A SELECT yielding :data:`udfs.correlate.sql.common.MATCH_COLUMNS` for one two-step rule
    (``group_by``: the group, when the rule's own stands for something else, as for Sigma's
    ``temporal_ordered``; ``chained``: a view of inner correlation matches as rows of this rule,
    :mod:`udfs.correlate.sql.chains`)."""
    cond = ["B.s1", f"B.ts - A.ts <= {rule.within_ms}"]
    gap = rule.steps[1].max_gap_ms
    if gap is not None:
        cond.append(f"B.ts - A.ts <= {gap}")
    window_ms = (math.ceil(rule.within_ms / 1000) + 1) * 1000
    names = [quote(s.name or f"step{i + 1}") for i, s in enumerate(rule.steps)]
    links = f"{names[0]} || {GS} || A.bundle || {RS} || {names[1]} || {GS} || B.bundle"
    key, kind = group_exprs(rule.id, rule.group_by if group_by is None else group_by)
    steps = (f"ARRAY_CONTAINS(tags, {quote(rule.id + '#0')}) AS s0, "
             f"ARRAY_CONTAINS(tags, {quote(rule.id + '#1')}) AS s1")
    rows = rule_rows(rule.id, key, kind, source, steps)
    if chained:
        rows += f"""
  UNION ALL
  SELECT rt, ts, id, bundle, gkey, gkind, {steps} FROM {chained} WHERE ARRAY_CONTAINS(tags, {quote(rule.id)})"""
    return f"""SELECT {quote(rule.id)} AS rule_id, gkey, gkind, links FROM (
{rows}
) MATCH_RECOGNIZE (
  PARTITION BY gkey
  ORDER BY rt, id
  MEASURES A.gkind AS gkind, {links} AS links
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO LAST B
  PATTERN (A Z*? B) WITHIN {interval_sql(window_ms)}
  DEFINE A AS A.s0, B AS {" AND ".join(cond)}
)"""
