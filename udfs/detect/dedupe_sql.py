"""The job's hit deduplication (:mod:`udfs.detect.dedupe`) as Flink SQL, for the rules that ask for it.

The hits of those rules go through one OVER aggregation, partitioned by (rule, entity + techniques,
window start) and ordered by event time: a row is kept when it is the first of its partition. Flink
feeds an OVER aggregation in event-time order once the watermark passes, so the kept hit is the
earliest of its window (at one millisecond, the first to arrive). Per partition the state is one
count, dropped once the partition has been idle for a while (:func:`state_ttl_ms`: the planner's
idle-state retention, in processing time, set for this one operator); by then its window has
closed in event time. Every other hit goes around it, untouched: rules that do not ask see exactly
what they saw before. A hit of a deduplicated rule behind the watermark is not deduplicated: it
goes to the signals (and the late output, as any late hit), never to correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from udfs.correlate.sql.common import quote

ENTITY_SQL = "COALESCE(hit_host_key, hit_user_key)"  # the hit's own host, else its user (case-folded)


def _rules_in(windows: Mapping[str, int]) -> str:
    return f"rule_id IN ({', '.join(quote(r) for r in sorted(windows))})"


def _window_ms(windows: Mapping[str, int]) -> str:
    cases = " ".join(f"WHEN {quote(r)} THEN CAST({ms} AS BIGINT)" for r, ms in sorted(windows.items()))
    return f"CASE rule_id {cases} END"


def passthrough_sql(windows: Mapping[str, int], source: str) -> str:
    """The hits that are not deduplicated: other rules, and hits that name no entity."""
    return f"SELECT * FROM {source} WHERE NOT ({_rules_in(windows)}) OR {ENTITY_SQL} IS NULL"


def dedupe_sql(windows: Mapping[str, int], source: str, columns: Sequence[str]) -> str:
    """The hits of the rules in ``windows`` (rule id -> window ms) that name an entity, with the
    ``columns`` of ``source`` (ordered on its time attribute ``rt``): on time, the first per (rule,
    entity, techniques, window); behind the watermark, all of them, with no tags (so that they reach
    the signals but no correlation). One query, so that one watermark decides what is late: a hit is
    never both dropped as late by the OVER aggregation and missed by the late branch."""
    cols = ", ".join(columns)
    # NULL tags, written so that the branch still reads ``tags``: both branches then read the same
    # columns, and the planner reuses one scan and one watermark assigner for both.
    no_tags = "CASE WHEN CARDINALITY(tags) IS NULL THEN tags END AS tags"
    late_cols = ", ".join(no_tags if c == "tags" else c for c in columns)
    on_time = "(CURRENT_WATERMARK(rt) IS NULL OR rt > CURRENT_WATERMARK(rt))"
    return f"""SELECT {cols} FROM (
  SELECT {cols}, COUNT(*) OVER (
      PARTITION BY rule_id, dd_key, dd_ws ORDER BY rt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS dd_n
  FROM (
    SELECT {cols},
      {ENTITY_SQL} || CHR(31) || COALESCE(JSON_QUERY(ev, '$.techniques'), '') AS dd_key,
      ts - MOD(ts, {_window_ms(windows)}) AS dd_ws
    FROM {source}
    WHERE {_rules_in(windows)} AND {ENTITY_SQL} IS NOT NULL AND {on_time}
  )
) WHERE dd_n = 1
UNION ALL
SELECT {late_cols} FROM {source}
WHERE {_rules_in(windows)} AND {ENTITY_SQL} IS NOT NULL AND NOT {on_time}"""


def state_ttl_ms(windows: Mapping[str, int], out_of_orderness_ms: int, allowed_lateness_ms: int) -> int:
    """How long a partition may stay idle (processing time) before its count is dropped: twice the
    longest window and the watermark delay, so that a live stream has closed the window long before.
    A stream read slower than real time could see a window outlive it: then one more hit, never one less."""
    return 2 * (max(windows.values()) + out_of_orderness_ms + allowed_lateness_ms)
