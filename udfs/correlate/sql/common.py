"""What the SQL of every rule kind shares: literals, the group key, a rule's rows, the match shape.

Every JVM-path rule yields the same columns (:data:`MATCH_COLUMNS`), so all matches are one stream
into the scoring step: the rule id, the group key and kind, and the match's links, ``step GS bundle``
joined by RS, where a bundle is a hit's evidence as the ``linked`` view has it (see ``BUNDLE_SQL``).
"""

from __future__ import annotations

MATCH_COLUMNS = ("rule_id", "gkey", "gkind", "links")
US, RS, GS = "CHR(31)", "CHR(30)", "CHR(29)"  # unit / record / group separators: never in JSON text
SEPARATORS = {"unit": "\x1f", "record": "\x1e", "group": "\x1d", "file": "\x1c"}
# A hit's evidence bundle: its evidence JSON, then the linked host, user and the link's own host.
BUNDLE_SQL = (f"ev || {US} || COALESCE(ehost, '') || {US} || COALESCE(euser, '') || {US} || "
              "COALESCE(lhost, '')")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def interval_sql(ms: int) -> str:
    """A day-time interval literal of ``ms`` milliseconds (Flink SQL rejects SECOND(p) with p > 2)."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' DAY TO SECOND(3)"


def millis_sql(expr: str) -> str:
    """Epoch milliseconds of a TIMESTAMP_LTZ(3) expression, whatever the session time zone."""
    seconds = f"CAST(TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), {expr}) AS BIGINT)"
    return f"({seconds} * 1000 + EXTRACT(MILLISECOND FROM {expr}))"


def link_group(group_by: str | list[str] | tuple[str, ...]) -> str | None:
    """The linked-entity name a rule groups on (host, user, entity), or None (field paths / all)."""
    names = [group_by] if isinstance(group_by, str) else list(group_by)
    return names[0] if len(names) == 1 and names[0] in ("host", "user", "entity") else None


def group_exprs(rule_id: str, group_by: str | list[str] | tuple[str, ...]) -> tuple[str, str]:
    """(group key, group kind) SQL expressions over the ``linked`` view, as the reference's
    ``group_values``: the linked host / user, the host else the user, or field values (computed in
    Python before linking, ``keys['<rule>@group']``); no group-by: one group, ``*``."""
    entity = link_group(group_by)
    if entity == "host":
        return "host_key", "'host'"
    if entity == "user":
        return "user_key", "'user'"
    if entity == "entity":
        return "COALESCE(host_key, user_key)", "CASE WHEN host_key IS NOT NULL THEN 'host' ELSE 'user' END"
    if not group_by:
        return "'*'", "'all'"
    return f"keys[{quote(rule_id + '@group')}]", "'fields'"


def rule_rows(rule_id: str, key: str, kind: str, source: str, extra: str = "") -> str:
    """The hits a rule takes, with its group key: the input of the rule's pattern or aggregate."""
    more = f", {extra}" if extra else ""
    return f"""  SELECT rt, ts, id, {BUNDLE_SQL} AS bundle, {key} AS gkey, {kind} AS gkind{more}
  FROM {source}
  WHERE ARRAY_CONTAINS(tags, {quote(rule_id)}) AND {key} IS NOT NULL"""


def ordered_aggregate_sql(rule_id: str, rows: str, call: str, measures: str) -> str:
    """A JVM aggregate function over each group's rows in (event time, hit id) order, yielding
    :data:`MATCH_COLUMNS` where it returns a match. An OVER aggregation takes a timestamp's rows in
    arrival order, so a MATCH_RECOGNIZE of one row per match first puts each group's rows in the
    reference's order. ``rows``: the rule's rows (:func:`rule_rows`); ``measures``: their extra
    columns as the aggregate reads them (``X.col AS col, ...``)."""
    return f"""SELECT {quote(rule_id)} AS rule_id, gkey, gkind, links FROM (
  SELECT gkey, gkind, {call}
         OVER (PARTITION BY gkey ORDER BY rt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS links
  FROM (
    SELECT * FROM (
{rows}
    ) MATCH_RECOGNIZE (
      PARTITION BY gkey
      ORDER BY rt, id
      MEASURES MATCH_ROWTIME(rt) AS rt, X.ts AS ts, X.id AS id, X.bundle AS bundle, X.gkind AS gkind,
               {measures}
      ONE ROW PER MATCH
      AFTER MATCH SKIP PAST LAST ROW
      PATTERN (X)
      DEFINE X AS TRUE
    )
  )
) WHERE links IS NOT NULL"""
