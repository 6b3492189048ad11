"""The plan (which rules run in the JVM, the tags a hit carries) and the SQL text helpers, without Flink."""

from __future__ import annotations

from pathlib import Path

from schemas.rules import SequenceRule
from udfs.analyze import COLUMN_NAMES, fact_row
from udfs.correlate.plan import FALLBACK_TAG, CorrelationPlan, sequence_path
from udfs.correlate.rules import load_ruleset
from udfs.correlate.sql.common import interval_sql, millis_sql
from udfs.link.sql import linking_stages

RULES = Path(__file__).resolve().parents[2] / "rules"


def _seq(**extra: object) -> SequenceRule:
    doc = {"kind": "sequence", "id": "s", "title": "t", "within": "15m",
           "steps": [{"techniques": ["T1055"]}, {"techniques": ["T1071"]}], **extra}
    return SequenceRule.model_validate(doc)


def test_two_plain_steps_take_the_jvm_path_and_each_construct_without_a_faithful_form_says_why() -> None:
    assert sequence_path(_seq())[0] == "jvm"
    three = _seq(steps=[{"techniques": ["T1"]}, {"techniques": ["T2"]}, {"techniques": ["T3"]}])
    assert sequence_path(three) == ("python", "3 steps: a partial started after the first can outlive a match")
    assert "until" in sequence_path(_seq(until={"techniques": ["T9"]}))[1]
    assert "join keys" in sequence_path(_seq(by=["user.name"]))[1]
    counted = _seq(steps=[{"techniques": ["T1"]}, {"techniques": ["T2"], "count": 3}])
    assert "counts 3 hits" in sequence_path(counted)[1]
    assert "linked entity" in sequence_path(_seq(group_by=["host", "process.name"]))[1]


def test_every_bundled_rule_runs_in_the_jvm() -> None:
    plan = CorrelationPlan(load_ruleset(RULES))
    assert [p.rule_id for p in plan.explain() if p.path == "python"] == []
    assert not plan.has_python
    # the brute-force chain: its inner count feeds the rule over it and alerts only through it
    assert plan.chained == plan.silent == {"6a1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"}


def test_a_hit_carries_the_tags_of_the_steps_it_matches() -> None:
    plan = CorrelationPlan(load_ruleset(RULES))
    hit = {"hit_id": "h:1", "timestamp_ms": 1, "rule_id": "event:attck_technique", "techniques": ["T1055.012"],
           "tactics": ["defense-evasion", "privilege-escalation"], "event": {}}
    tags, keys = plan.tags(hit)
    assert {"ttpflow-seq-injection-then-c2", "ttpflow-seq-injection-then-c2#0"} <= set(tags)
    assert "ttpflow-seq-injection-then-c2#1" not in tags
    assert keys["ttpflow-progression-kill-chain@tactics"] == "privilege-escalation,defense-evasion"
    assert FALLBACK_TAG not in tags  # no Python-path rule takes an EDR technique hit


def test_a_logoff_is_a_version_of_its_own_subject() -> None:
    row = dict(zip(COLUMN_NAMES, fact_row({"subject": "session:j.doe", "value": None, "ts": 5, "via": "logoff",
                                            "if_value": "ws-07"}), strict=True))
    assert (row["kind"], row["id"], row["val"], row["ts"]) == ("fact", "logoff:j.doe|ws-07", "ws-07", 5)


def test_sql_literals() -> None:
    assert interval_sql(60_001) == "INTERVAL '0 00:01:00.001' DAY TO SECOND(3)"
    assert interval_sql(90_061_000) == "INTERVAL '1 01:01:01.000' DAY TO SECOND(3)"
    assert "AS BIGINT" in millis_sql("w")  # seconds since 1970 times 1000 overflows an INT


def test_linking_runs_one_lookup_per_stage_and_ends_with_the_linked_view() -> None:
    stages = linking_stages("hits_on_time", 86_400_000)
    assert [name for name, _ in stages] == ["link_src", "link_dst", "link_q1", "link_q2", "link_q3", "link_q4",
                                            "link_session", "link_logoff", "linked"]
    assert all(sql.count("FOR SYSTEM_TIME AS OF") == 1 for _, sql in stages[:-1])
