"""The analyzed row's type is part of the savepoint: the linking stages, the dedupe step and the
companion join keep these rows in JVM state, and Flink SQL cannot restore a row whose fields
changed (the state serializer is incompatible). New per-hit values ride in the ``keys`` map (as
``keys['<rule>@group']`` and ``keys['~risk']`` do), never in a new column, unless the state format
is bumped with an upgrade path (jobs.local.cluster.TTPFLOW_STATE_FORMAT, docs/upgrade.md).
tests/integration/test_upgrade.py proves it on a real savepoint; this test says it in a second."""

from __future__ import annotations

from jobs.local.cluster import TTPFLOW_STATE_FORMAT
from udfs.analyze import COLUMNS

STATE_FORMAT_2_ROW = (
    ("kind", "STRING"), ("ts", "BIGINT"), ("id", "STRING"), ("val", "STRING"), ("rule_id", "STRING"),
    ("tags", "ARRAY<STRING>"), ("keys", "MAP<STRING, STRING>"), ("own_host", "STRING"), ("hit_host", "STRING"),
    ("hit_host_key", "STRING"), ("hit_user", "STRING"), ("hit_user_key", "STRING"), ("src_subj", "STRING"),
    ("dst_subj", "STRING"), ("src_static", "STRING"), ("dst_static", "STRING"), ("user_known", "STRING"),
    ("user_canon", "STRING"), ("known_svc", "BOOLEAN"), ("canon_svc", "BOOLEAN"), ("p1", "STRING"),
    ("p2", "STRING"), ("p3", "STRING"), ("p4", "STRING"), ("ev", "STRING"), ("signal", "STRING"),
)


def test_the_analyzed_row_keeps_the_type_state_format_2_savepoints_hold() -> None:
    assert TTPFLOW_STATE_FORMAT == 2
    assert COLUMNS == STATE_FORMAT_2_ROW, (
        "the analyzed row changed: savepoints of state format 2 will not restore. Put the new value in the "
        "keys map, or bump TTPFLOW_STATE_FORMAT and give `ttpflow upgrade` the path (docs/upgrade.md)"
    )
