"""Linking in Flink SQL: each hit joined, at its own event time, with the bindings the stream taught.

Every binding fact is a version of its subject (``ip:``, ``session:``, ``principal:``, ``logoff:``)
in a versioned table, and each hit looks its subjects up with event-time temporal joins
(``FOR SYSTEM_TIME AS OF``): the fact valid at the hit's time, whatever the arrival order. The
logic is the reference linker's (:class:`udfs.link.resolve.Linker`), step by step:

1. the host the event names (endpoint telemetry), else the host bound to its source address, else
   to its destination address (learned, else the inventory's);
2. the user: the inventory's, else a learned principal (identifiers in order), else the name's
   canonical spelling; a service account is scoped to the host (``system@ws-07``), or dropped;
3. no host yet but a user: the host of the user's interactive session, unless a logoff from that
   host came at or after the logon.

A binding older than ``max_age`` at the hit's time is not trusted, as in the reference table.

The lookups are stages, one join each (:func:`linking_stages`): the job hands each stage's result to
the next through a DataStream, so each plans in a moment and runs once, however many rules read it.
"""

from __future__ import annotations

PRINCIPALS = 4
# Binding facts by subject kind: each lookup joins only the versions of its kind (``bindings_<kind>``).
KINDS = ("ip", "session", "principal", "logoff")


def _fresh(alias: str, max_age_ms: int) -> str:
    return f"({alias}_val IS NOT NULL AND ts - {alias}_ts <= {max_age_ms})"


def _lookup(source: str, alias: str, key: str, kind: str) -> str:
    """One temporal join: ``source``'s rows gain ``<alias>_val`` / ``<alias>_ts``, the binding of
    subject ``key`` (an expression over ``source``) valid at the row's time. Rows without a subject
    go around the join: most hits need only one or two of the lookups."""
    keyed = f"(SELECT *, {key} AS {alias}_key FROM {source})"
    return f"""SELECT h.*, b.val AS {alias}_val, b.ts AS {alias}_ts
FROM {keyed} AS h
LEFT JOIN bindings_{kind} FOR SYSTEM_TIME AS OF h.rt AS b ON h.{alias}_key = b.subject
WHERE h.{alias}_key IS NOT NULL
UNION ALL
SELECT *, CAST(NULL AS STRING) AS {alias}_val, CAST(NULL AS BIGINT) AS {alias}_ts
FROM {keyed} WHERE {alias}_key IS NULL"""


def linking_stages(hits: str, max_age_ms: int) -> list[tuple[str, str]]:
    """(view name, SELECT) in order; each reads the one before (the first reads ``hits``), and the
    last, ``linked``, carries the final host and user of every hit. ``bindings_<kind>`` must exist
    for each of :data:`KINDS`: the versioned table of those binding facts (subject, val, ts, rt)."""
    lookups = [("src", "src_subj", "ip"), ("dst", "dst_subj", "ip")]
    lookups += [(f"q{i}", f"p{i}", "principal") for i in range(1, PRINCIPALS + 1)]
    stages: list[tuple[str, str]] = []
    source = hits
    for alias, key, kind in lookups:
        stages.append((f"link_{alias}", _lookup(source, alias, key, kind)))
        source = f"link_{alias}"
    learned = ", ".join(f"CASE WHEN {_fresh(f'q{i}', max_age_ms)} THEN q{i}_val END" for i in range(1, PRINCIPALS + 1))
    any_learned = " OR ".join(_fresh(f"q{i}", max_age_ms) for i in range(1, PRINCIPALS + 1))
    resolved = f"""SELECT *,
  CASE WHEN svc THEN (CASE WHEN host1 IS NOT NULL THEN user1 || '@' || host1 END) ELSE user1 END AS user2
FROM (
  SELECT *, COALESCE(own_host, src_host, dst_host) AS host1
  FROM (
    SELECT *,
      CASE WHEN {_fresh('src', max_age_ms)} THEN src_val ELSE src_static END AS src_host,
      CASE WHEN {_fresh('dst', max_age_ms)} THEN dst_val ELSE dst_static END AS dst_host,
      COALESCE(user_known, {learned}, user_canon) AS user1,
      CASE WHEN user_known IS NOT NULL THEN known_svc WHEN {any_learned} THEN FALSE ELSE canon_svc END AS svc
    FROM {source}
  )
)"""
    session = "CASE WHEN host1 IS NULL AND user2 IS NOT NULL THEN 'session:' || user2 END"
    stages.append(("link_session", _lookup(f"({resolved})", "ss", session, "session")))
    stages.append(("link_logoff", _lookup("link_session", "se", "'logoff:' || user2 || '|' || ss_val", "logoff")))
    stages.append(("linked", f"""SELECT rt, ts, id, rule_id, tags, keys, ev, signal, lhost, luser, src_host, dst_host,
  COALESCE(lhost, NULLIF(hit_host, '')) AS ehost,
  COALESCE(luser, NULLIF(hit_user, '')) AS euser,
  COALESCE(LOWER(lhost), hit_host_key) AS host_key,
  COALESCE(LOWER(luser), hit_user_key) AS user_key
FROM (
  SELECT *, user2 AS luser,
    CASE WHEN host1 IS NULL AND user2 IS NOT NULL AND {_fresh('ss', max_age_ms)}
              AND (se_ts IS NULL OR se_ts <= ss_ts) THEN ss_val ELSE host1 END AS lhost
  FROM link_logoff
)"""))
    return stages
