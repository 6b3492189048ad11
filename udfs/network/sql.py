"""The windowed network rules in Flink SQL: a tumbling window per rule over the connection rows the
analyze step tags for it (``kind = 'conn'``), grouped as :func:`udfs.network.behavior.group_key`.

The window holds what the decision needs (count, bytes, the connection times for a beacon) and
only windows that can pass leave (``HAVING``); the decision itself is
:meth:`udfs.network.behavior.NetworkBehavior.window_hit`, shared with the reference. Windows are
aligned to the epoch: the job sets the SQL session time zone to UTC.
"""

from __future__ import annotations

from schemas.network import NetworkRule
from udfs.correlate.sql.common import interval_sql, millis_sql, quote

WINDOW_COLUMNS = ("rule_id", "gkey", "wend", "n", "total", "times")


def connections_sql(rule: NetworkRule) -> str:
    """The rule's connection rows, with its group key (a view: the window's input)."""
    if rule.analytic == "outbound_volume":
        key = "keys['src']"
    else:
        key = "keys['src'] || '|' || keys['dst'] || '|' || COALESCE(keys['port'], '')"
    return (f"SELECT rt, ts, {key} AS gkey, CAST(keys['out'] AS BIGINT) AS bytes_out FROM analyzed "
            f"WHERE kind = 'conn' AND ARRAY_CONTAINS(tags, {quote(rule.id)})")


def window_sql(rule: NetworkRule, view: str) -> str:
    """One row per (group, window) that can meet the rule: :data:`WINDOW_COLUMNS`."""
    if rule.analytic == "beacon":
        times, having = "LISTAGG(CAST(ts AS STRING), ',')", f"COUNT(*) >= {rule.min_connections}"
    else:
        times, having = "CAST(NULL AS STRING)", f"SUM(COALESCE(bytes_out, 0)) >= {rule.min_bytes}"
    return f"""SELECT CAST({quote(rule.id)} AS STRING) AS rule_id, gkey, {millis_sql('window_time')} + 1 AS wend,
       COUNT(*) AS n, SUM(COALESCE(bytes_out, 0)) AS total, {times} AS times
FROM TABLE(TUMBLE(TABLE {view}, DESCRIPTOR(rt), {interval_sql(rule.window_ms)}))
GROUP BY window_start, window_end, window_time, gkey
HAVING {having}"""
