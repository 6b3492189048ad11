"""Operator uids that survive a change of the rule set.

Flink SQL names its operators' uids after plan node ids (``table.exec.uid.generation: ALWAYS``),
which count up across the whole job: add one rule and every operator planned after it would get a
new uid, and its state would not be found in the savepoint. Each rule's query is therefore planned
on its own and its operators get uids derived from the rule: ``rule-<id>-<digest of its SQL>-<n>``.
Adding or removing a rule leaves every other rule's state where it is; changing a rule's logic
changes its SQL, so that rule starts with empty state (resume with ``--allow-non-restored-state``
to drop the old one).
"""

from __future__ import annotations

from typing import Any

from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment, Table
from pyflink.table.types import DataType, _to_java_data_type

from udfs.correlate.sql.queries import rule_prefix

__all__ = ["rule_prefix", "to_stream_with_uids"]

_NO_UID = ("PartitionTransformation", "UnionTransformation", "SideOutputTransformation")


def to_stream_with_uids(t_env: StreamTableEnvironment, table: Table, prefix: str,
                        data_type: DataType | None = None) -> DataStream:
    """``t_env.to_data_stream(table)`` (as ``data_type``, when given), with every operator planned for
    it named ``<prefix>-<n>`` (n: its place in a walk from the output, the same for the same plan)."""
    since = get_gateway().jvm.org.apache.flink.api.dag.Transformation.getNewNodeId()
    if data_type is None:
        stream = t_env.to_data_stream(table)
    else:
        stream = DataStream(t_env._j_tenv.toDataStream(table._j_table, _to_java_data_type(data_type)))
    for n, transformation in enumerate(_new_transformations(stream, since)):
        transformation.setUid(f"{prefix}-{n}")
    return stream


def _new_transformations(stream: DataStream, since: int) -> list[Any]:
    out: list[Any] = []
    seen: set[int] = set()
    stack = [stream._j_data_stream.getTransformation()]
    while stack:
        t = stack.pop()
        if t.getId() <= since or t.getId() in seen:
            continue
        seen.add(t.getId())
        if t.getClass().getSimpleName() not in _NO_UID:
            out.append(t)
        stack.extend(reversed(list(t.getInputs())))
    return out
