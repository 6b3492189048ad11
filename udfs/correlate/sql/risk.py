"""A ``risk_threshold`` rule as MATCH_RECOGNIZE, with the reference engine's semantics
(:mod:`udfs.correlate.risk`).

Per entity (PARTITION BY the group key), in event-time order (ties by hit id), the pattern
``S*? L`` finds the first signal ``L`` whose risk, summed with the signals before it in the match,
reaches the threshold (with at least ``min_signals`` signals), and only over signals within the
window of ``L`` (``L.ts - FIRST(S.ts) <= window``, exact, in DEFINE). A partial match starts at
every signal, so the earliest one still in the window holds every pending signal of the window: the
largest sum, the one the reference takes. ``WITHIN`` (a second longer) lets Flink drop partial
matches that can no longer complete. ``AFTER MATCH SKIP PAST LAST ROW`` is the re-arm rule: the
signals of an alert are spent, and the next alert needs a new threshold of risk from later signals.

The match row's ``links``: ``total US count FS`` then one ``risk <score> GS bundle`` per signal,
``RS``-separated (:class:`udfs.correlate.sql.drafts.MatchDrafts` reads it).
"""

from __future__ import annotations

import math

from schemas.risk import RiskThresholdRule
from udfs.correlate.plan import RISK_KEY
from udfs.correlate.sql.common import GS, RS, US, group_exprs, interval_sql, quote, rule_rows

FS = "CHR(28)"  # file separator: between the head (total, count) and the evidence


def _step(var: str) -> str:
    return f"'risk ' || CAST({var}.risk AS STRING) || {GS} || {var}.bundle"


def risk_sql(rule: RiskThresholdRule, source: str = "linked") -> str:
    """A SELECT yielding :data:`udfs.correlate.sql.common.MATCH_COLUMNS` for one risk rule."""
    key, kind = group_exprs(rule.id, rule.group_by)
    rows = rule_rows(rule.id, key, kind, source, f"CAST(keys[{quote(RISK_KEY)}] AS BIGINT) AS risk")
    total = "COALESCE(SUM(S.risk), 0) + L.risk"
    count = "COUNT(S.id) + 1"
    cond = [f"{total} >= {rule.threshold}", f"L.ts - COALESCE(FIRST(S.ts), L.ts) <= {rule.window_ms}"]
    if rule.min_signals > 1:
        cond.insert(1, f"{count} >= {rule.min_signals}")
    window_ms = (math.ceil(rule.window_ms / 1000) + 1) * 1000
    # LISTAGG's separator must be a literal: the record separator as a Unicode escape.
    earlier = f"COALESCE(LISTAGG({_step('S')}, U&'\\001E') || {RS}, '')"
    links = (f"CAST({total} AS STRING) || {US} || CAST({count} AS STRING) || {FS} || "
             f"{earlier} || {_step('L')}")
    return f"""SELECT {quote(rule.id)} AS rule_id, gkey, gkind, links FROM (
{rows}
) MATCH_RECOGNIZE (
  PARTITION BY gkey
  ORDER BY rt, id
  MEASURES L.gkind AS gkind, {links} AS links
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S*? L) WITHIN {interval_sql(window_ms)}
  DEFINE L AS {" AND ".join(cond)}
)"""
