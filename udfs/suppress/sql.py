"""The companion join: held hits against companion events, one event-time interval LEFT JOIN in the JVM.

The analyze step emits, for the active companion rules (:mod:`udfs.suppress.match`):

- a ``held`` row per hit whose rule's own conditions hold: the whole hit row, ``val`` = ``<rule id>|<key>``;
- a ``companion`` row per event that is a companion: ``id`` the event, ``rule_id`` the suppression,
  ``val`` = ``<rule id>|<key>`` (the key: the host, the user, or empty for ``key: none``).

One LEFT interval join pairs them on ``val`` within the widest window; a residual condition applies
each rule's own window. Flink emits a held row that found no companion, with NULLs, once the
watermark has passed its window: append-only, so it rejoins ``hits`` as an ordinary hit (the join
holds the watermark back by the window, so it is not late there). A row that found one is suppressed
(one record per companion event found). A held row already behind the join's watermark is emitted
unmatched at once and becomes a ``late`` hit: nothing is dropped.
"""

from __future__ import annotations

import orjson

from schemas.suppression import SuppressionRule
from udfs.correlate.sql.common import interval_sql
from udfs.suppress.match import record_prefix

JOINED_VIEW = "companion_joined"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _case(rules: list[SuppressionRule], values: dict[str, str], column: str) -> str:
    arms = " ".join(f"WHEN {_literal(r.id)} THEN {values[r.id]}" for r in rules)
    return f"CASE {column} {arms} END"


def join_sql(rules: list[SuppressionRule], source: str, columns: tuple[str, ...]) -> str:
    """Every held row of ``source``, with ``c_id`` / ``c_ts`` / ``c_rule`` of a companion in its rule's
    window (NULL: none)."""
    before = {r.id: r.companion.within_ms for r in rules if r.companion}
    after = {r.id: (r.companion.within_ms if r.companion.direction == "around" else 0) for r in rules if r.companion}
    held_cols = ", ".join(f"h.{c}" for c in columns)
    return (
        f"SELECT {held_cols}, h.rt, e.id AS c_id, e.ts AS c_ts, e.rule_id AS c_rule\n"
        f"FROM (SELECT * FROM {source} WHERE kind = 'held') h\n"
        f"LEFT JOIN (SELECT id, ts, val, rule_id, rt AS c_rt FROM {source} WHERE kind = 'companion') e\n"
        f"  ON h.val = e.val\n"
        f"  AND e.c_rt BETWEEN h.rt - {interval_sql(max(before.values()))} "
        f"AND h.rt + {interval_sql(max(after.values()))}\n"
        f"  AND e.ts >= h.ts - {_case(rules, {k: str(v) for k, v in before.items()}, 'e.rule_id')}\n"
        f"  AND e.ts <= h.ts + {_case(rules, {k: str(v) for k, v in after.items()}, 'e.rule_id')}"
    )


def released_sql(columns: tuple[str, ...]) -> str:
    """The held hits no companion came for, as ordinary hit rows."""
    cols = ", ".join("'hit' AS kind" if c == "kind" else "CAST(NULL AS STRING) AS val" if c == "val" else c
                     for c in columns)
    return f"SELECT {cols} FROM {JOINED_VIEW} WHERE c_id IS NULL"


def suppressed_sql(rules: list[SuppressionRule]) -> str:
    """The held hits a companion came for: the suppressed record (rule, reason, the companion, the hit)."""
    prefixes = {r.id: _literal(record_prefix(r, "companion")) for r in rules}
    return (
        f"SELECT {_case(rules, prefixes, 'c_rule')} || ',\"companion\":{{\"event_id\":' || JSON_STRING(c_id) "
        "|| ',\"timestamp_ms\":' || CAST(c_ts AS STRING) || '},\"hit\":' || signal || '}' AS record "
        f"FROM {JOINED_VIEW} WHERE c_id IS NOT NULL"
    )


def describe(rules: list[SuppressionRule]) -> str:
    """One line per companion rule (``ttpflow rules check``)."""
    return "\n".join(
        f"{r.id}: held hits meet {orjson.dumps(r.companion.match.model_dump(exclude_defaults=True)).decode()} "
        f"within {r.companion.within} ({r.companion.direction}, key {r.companion.key})"
        for r in rules if r.companion
    )
