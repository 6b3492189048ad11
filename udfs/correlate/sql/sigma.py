"""Sigma correlation rules in Flink SQL.

- ``event_count``, ``value_count``, ``value_sum`` and ``temporal`` with a lower-bound condition are
  decided on every hit over the last timespan: the JVM aggregate ``sigma_sliding`` (udfs/jvm,
  io.ttpflow.udf.SigmaSliding, a port of the reference's sliding window) over each group's hits,
  in (time, hit id) order as for tactic progression.
- ``temporal_ordered`` over two rules is a two-step sequence: the sequence MATCH_RECOGNIZE.

What else Sigma allows (conditions later hits could break, averages and percentiles, decided when
the window closes; chains; aliases) runs on the Python keyed operator (see udfs.correlate.plan).
"""

from __future__ import annotations

from schemas.correlation import SigmaCorrelation
from schemas.rules import SequenceRule
from udfs.correlate.sql.common import US, group_exprs, ordered_aggregate_sql, quote, rule_rows

FUNCTION = "sigma_sliding"
JAVA_CLASS = "io.ttpflow.udf.SigmaSliding"
SLIDING_TYPES = ("event_count", "value_count", "value_sum", "temporal")


def step_names(rule: SigmaCorrelation) -> list[str]:
    return [r.name or r.ref for r in rule.refs]


def as_sequence(rule: SigmaCorrelation) -> SequenceRule:
    """A two-rule ``temporal_ordered`` as the sequence the reference runs it as."""
    from udfs.correlate.sigma_runtime import _as_sequence

    return _as_sequence(rule)


def sliding_sql(rule: SigmaCorrelation, source: str = "linked") -> str:
    key, kind = group_exprs(rule.id, rule.group_by)
    extra = f"keys[{quote(rule.id + '@refs')}] AS refs, keys[{quote(rule.id + '@x')}] AS x"
    ops = rule.condition.ops
    bound = {op: (f"CAST({ops[op]!r} AS DOUBLE)" if op in ops else "CAST(NULL AS DOUBLE)") for op in ("gt", "gte")}
    names = f" || {US} || ".join(quote(n) for n in step_names(rule))
    args = (f"ts, refs, x, bundle, {quote(rule.type)}, CAST({rule.timespan_ms} AS BIGINT), "
            f"{bound['gt']}, {bound['gte']}, {names}")
    rows = rule_rows(rule.id, key, kind, source, extra)
    return ordered_aggregate_sql(rule.id, rows, f"{FUNCTION}({args})", "X.refs AS refs, X.x AS x")
