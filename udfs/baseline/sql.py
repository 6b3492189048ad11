"""The baseline counts in Flink SQL: the kept hits, one row per baseline key (``keys['~base']`` split
on ``,``), counted per key in event-time tumbling windows; each closed window leaves as one
``baseline`` context update (JSON text, built in SQL so that it stays in the JVM).

A window aggregation is append-only and keeps state only for the windows still open (an hour per
key, until the watermark passes its end): the decayed counts live in the context broadcast state
(udfs.baseline.handler), not here. Late hits (behind the watermark) are not counted.
"""

from __future__ import annotations

from udfs.baseline.keys import BASE_KEY
from udfs.correlate.sql.common import interval_sql, millis_sql


def exploded_sql(rows_view: str) -> str:
    """One row per (hit, baseline key) of ``rows_view`` (analyzed rows), with the hit's event time."""
    return (f"SELECT rt, bkey FROM {rows_view} CROSS JOIN UNNEST(SPLIT(keys['{BASE_KEY}'], ',')) AS b(bkey) "
            f"WHERE kind = 'hit' AND keys['{BASE_KEY}'] IS NOT NULL")


def updates_sql(view: str, window_ms: int, half_life_ms: int) -> str:
    """One ContextUpdate JSON string per (key, closed window) of ``view`` (:func:`exploded_sql`).
    Keys are safe in JSON as they are (udfs.baseline.keys replaces quotes, backslashes, controls)."""
    end = f"{millis_sql('window_time')} + 1"
    return f"""SELECT '{{"kind":"baseline","key":"' || bkey || '","value":{{"count":' || CAST(COUNT(*) AS STRING)
  || ',"window_end":' || CAST({end} AS STRING) || ',"window_ms":{window_ms},"half_life_ms":{half_life_ms}}},"ts":'
  || CAST({end} AS STRING) || '}}' AS update_json
FROM TABLE(TUMBLE(TABLE {view}, DESCRIPTOR(rt), {interval_sql(window_ms)}))
GROUP BY window_start, window_end, window_time, bkey"""
