"""Analyst feedback (docs/scoring.md, "Analyst feedback"): the verdict schema, the parse step's
verdicts and dead letters, the counts (one verdict per alert, the latest wins), the factor and its
sentence, and the scorer with the factor registered through the context mechanism. The join and the
round trip on Kafka: tests/integration/test_feedback_kafka.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.dead_letter import DeadLetter
from schemas.feedback import FeedbackError, parse_verdict
from udfs.context.live import LiveContext, bind
from udfs.context.updates import encode, update
from udfs.feedback.factor import MAX_DISCOUNT, NAME, feedback_factor, rates
from udfs.feedback.parse import INVALID, UNKNOWN, ParseFeedback
from udfs.feedback.sql import join_sql
from udfs.feedback.store import Counts, VerdictStore
from udfs.score import Scorer
from udfs.score.subject import Subject

RULE = "ttpflow-seq-injection-then-c2"


def verdict(alert_id: str = "a1", kind: str = "false_positive", **extra: Any) -> bytes:
    return orjson.dumps({"alert_id": alert_id, "verdict": kind, "analyst": "ann", **extra})


def value(kind: str, entity: str = "h1", rule: str = RULE) -> dict[str, Any]:
    return {"rule_id": rule, "entity_type": "host", "entity": entity, "verdict": kind, "analyst": "ann"}


def subject(rule: str | None = RULE, entity: str = "h1") -> Subject:
    return Subject(level="high", observations=(), tactics=(), rule_id=rule, entity_type="host", entity=entity)


# -- the schema ----------------------------------------------------------------------------------------


def test_a_verdict_parses_with_its_optional_fields() -> None:
    v = parse_verdict(verdict(comment="patch job", at="2026-11-30T07:00:00+01:00", ticket="SOC-1"))
    assert (v.alert_id, v.verdict, v.analyst, v.comment) == ("a1", "false_positive", "ann", "patch job")
    assert v.at_ms() == 1_796_018_400_000  # 06:00Z; an unknown field (ticket) is ignored


@pytest.mark.parametrize(("payload", "field", "expected"), [
    (b'{"verdict": "false_positive", "analyst": "a"}', "alert_id", "the field is required"),
    (verdict(kind="fp"), "verdict", "one of 'true_positive', 'false_positive'"),
    (b'{"alert_id": 5, "verdict": "true_positive", "analyst": "a"}', "alert_id", "a string"),
    (b'{"alert_id": "x", "verdict": "true_positive", "analyst": " "}', "analyst", "a non-empty string"),
    (verdict(at="2026-11-30T07:00:00"), "at", "with a zone"),
    (verdict(at="yesterday"), "at", "ISO 8601"),
])
def test_errors_name_the_field_and_what_was_expected(payload: bytes, field: str, expected: str) -> None:
    with pytest.raises(FeedbackError) as caught:
        parse_verdict(payload)
    assert caught.value.location is not None and caught.value.location.field == field
    assert expected in str(caught.value) and str(caught.value).startswith(f"field {field}: expected")


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"a string"', b""])
def test_what_is_not_an_object_says_so(payload: bytes) -> None:
    with pytest.raises(FeedbackError, match="expected a JSON object"):
        parse_verdict(payload)


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_a_feedback_error(payload: bytes) -> None:
    try:
        assert parse_verdict(payload).alert_id
    except FeedbackError as err:  # never another exception: the job would fail on the record
        assert str(err).startswith(("expected", "field"))


# -- the parse step --------------------------------------------------------------------------------------


def test_parse_step_carries_the_unknown_letter_and_dead_letters_invalid_records() -> None:
    step = ParseFeedback("alerts-t", wait_ms=600_000, max_raw_bytes=1000)
    good = orjson.loads(step(("fb", 0, 7, 1_700_000_000_123, verdict())))
    assert good["ok"] and good["alert_id"] == "a1" and good["ts"] == 1_700_000_000_123 and good["at_ms"] is None
    unknown = DeadLetter.model_validate_json(good["unknown_letter"])
    assert unknown.reason == UNKNOWN and unknown.payload() == verdict()
    assert (unknown.origin.topic, unknown.origin.offset) == ("fb", 7)
    assert "'a1'" in unknown.detail and "alerts-t" in unknown.detail and "600 s" in unknown.detail
    bad = orjson.loads(step(("fb", 1, 8, 0, b'{"alert_id": "a1"}')))
    letter = DeadLetter.model_validate_json(bad["letter"])
    assert not bad["ok"] and letter.reason == INVALID and letter.detail.startswith("field verdict:")
    assert letter.payload() == b'{"alert_id": "a1"}' and letter.origin.partition == 1
    timed = orjson.loads(step(("fb", 0, 9, 5, verdict(at="2026-11-30T07:00:00Z"))))
    assert timed["ts"] == timed["at_ms"] == 1_796_022_000_000  # the analyst's time wins over the record's


def test_join_bounds_are_the_wait_above_and_the_retention_below() -> None:
    query = join_sql(30_000)
    assert "LEFT JOIN" in query and "a.pt BETWEEN v.pt - INTERVAL '90 00:00:00.000' DAY TO SECOND(3)" in query
    assert "v.pt + INTERVAL '0 00:00:30.000' DAY TO SECOND(3)" in query


# -- the counts ------------------------------------------------------------------------------------------


def test_one_verdict_per_alert_the_latest_wins() -> None:
    store = VerdictStore()
    store.apply("a1", value("false_positive"))
    store.apply("a1", value("false_positive"))  # redelivered: counted once
    assert store.rule(RULE) == Counts(0, 1) and store.entity(RULE, "h1") == Counts(0, 1)
    store.apply("a1", value("true_positive"))  # the analyst changed their mind
    assert store.rule(RULE) == Counts(1, 0)
    store.apply("a2", value("false_positive", entity="h2"))
    assert store.rule(RULE) == Counts(1, 1) and store.entity(RULE, "h2") == Counts(0, 1)
    store.apply("a1", None)  # a tombstone forgets it
    assert store.rule(RULE) == Counts(0, 1) and store.entity(RULE, "h1") == Counts()
    assert (RULE, "h1") not in store.entities


@given(st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3", "a4"]), st.sampled_from(["h1", "h2"]),
                          st.sampled_from(["true_positive", "false_positive", None])), max_size=30))
def test_counts_always_equal_a_recount_of_the_held_verdicts(steps: list[tuple[str, str, str | None]]) -> None:
    store = VerdictStore()
    for alert_id, entity, kind in steps:
        store.apply(alert_id, None if kind is None else value(kind, entity=entity))
    fp = sum(1 for h in store.alerts.values() if h.verdict == "false_positive")
    assert store.rule(RULE) == Counts(len(store.alerts) - fp, fp)
    assert sum(c.total for c in store.entities.values()) == len(store.alerts)


# -- the factor ------------------------------------------------------------------------------------------


def test_neutral_without_verdicts_and_absent_for_signals() -> None:
    store = VerdictStore()
    assert feedback_factor(store, subject(rule=None)) is None  # a hit's signal: no rule of an alert
    neutral = feedback_factor(store, subject())
    assert neutral is not None and neutral["weight"] == 1.0 and "no analyst verdicts" in neutral["reason"]


def test_false_positives_lower_the_weight_with_a_prior_and_the_entity_rate_takes_over() -> None:
    store = VerdictStore()
    store.apply("a1", value("false_positive"))
    one = feedback_factor(store, subject())
    assert one is not None and one["name"] == NAME
    assert one["weight"] == pytest.approx(1 - MAX_DISCOUNT * rates(Counts(0, 1), Counts(0, 1))[1], abs=0.006)
    assert 0.6 < one["weight"] < 0.9  # one verdict does not halve a rule
    assert one["reason"].startswith("analysts marked 1 of 1 alerts of this rule on host h1 false positive")
    other = feedback_factor(store, subject(entity="h9"))  # no verdicts of its own: the rule's rate
    assert other is not None and one["weight"] < other["weight"] < 1.0
    assert "none yet on host h9" in other["reason"]
    for n in range(2, 5):
        store.apply(f"a{n}", value("false_positive"))
    store.apply("t1", value("true_positive"))
    four = feedback_factor(store, subject())
    assert four is not None and "4 of 5 alerts of this rule on host h1" in four["reason"]
    assert four["weight"] < one["weight"]
    for n in range(30):  # many verdicts: the smoothed rate approaches the raw one, the weight its floor
        store.apply(f"b{n}", value("false_positive"))
    floor = feedback_factor(store, subject())
    assert floor is not None and 0.6 <= floor["weight"] < 0.7


def test_true_positives_never_raise_the_weight() -> None:
    store = VerdictStore()
    for n in range(5):
        store.apply(f"t{n}", value("true_positive"))
    found = feedback_factor(store, subject())
    assert found is not None and found["weight"] == 1.0 and "0 of 5" in found["reason"]


def test_the_scorer_lists_the_factor_once_a_verdict_arrived_and_scores_lower() -> None:
    draft = {
        "alert_id": "a9", "rule_id": RULE, "rule_title": "t", "rule_level": "high", "rule_kind": "sequence",
        "group_by": "host", "entity": "h1", "group": {"host": "h1"}, "first_ms": 1, "last_ms": 2,
        "evidence": [{"step": "s1", "timestamp_ms": 1, "event_id": "e1", "raw_sha256": "h", "rule_id": "r",
                      "techniques": ["T1055"], "tactics": ["privilege-escalation"], "host": "h1"}],
    }
    scorer = Scorer()
    live: LiveContext = bind(scorer)
    before = scorer.alert(draft)["severity"]
    assert NAME not in [f["name"] for f in before["factors"]]  # no verdict yet: scored as before
    live.apply(orjson.loads(encode(update("verdict", "a1", value("false_positive"), ts=5))))
    after = scorer.alert(draft)["severity"]
    mine = [f for f in after["factors"] if f["name"] == NAME]
    assert len(mine) == 1 and mine[0]["weight"] < 1.0 and after["score"] < before["score"]
    assert "on host h1" in mine[0]["reason"]


def test_options_set_the_topic_and_the_wait() -> None:
    import argparse

    from jobs.options import add_kafka_job_args, config_from_args

    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    config = config_from_args(parser.parse_args(["--feedback-topic", "verdicts", "--feedback-wait", "90s"]))
    assert (config.feedback_topic, config.feedback_wait_ms) == ("verdicts", 90_000)
    assert config_from_args(parser.parse_args([])).feedback_topic is None  # off by default: no operator
