"""One sequence rule's runtime on one key's state: ordered steps, windows, parents, sub-techniques, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.rules import SequenceRule
from udfs.correlate.drafts import evidence_of
from udfs.correlate.match import technique_matches
from udfs.correlate.runtime import MAX_PARTIALS_PER_KEY, Parts
from udfs.correlate.sequence import SequenceRuntime

MIN = 60_000
T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z


def rule(within: str = "15m", steps: tuple[tuple[str, ...], ...] = (("T1055",), ("T1071",))) -> SequenceRule:
    return SequenceRule.model_validate(
        {
            "kind": "sequence",
            "id": "seq",
            "title": "injection then c2",
            "within": within,
            "steps": [{"techniques": list(s)} for s in steps],
        }
    )


def hit(n: int, ts: int, *techniques: str, host: str = "h1") -> dict[str, Any]:
    return {
        "hit_id": f"sha{n}:r",
        "timestamp_ms": ts,
        "rule_id": "r",
        "techniques": list(techniques),
        "tactics": [],
        "host": host,
        "event": {"id": f"e{n}", "raw_sha256": f"sha{n}", "source_format": "plain_json", "host": {"name": host}},
    }


GROUP = {"host": "h1"}


def on_hit(runtime: SequenceRuntime, parts: Parts, h: dict[str, Any]) -> list[dict[str, Any]]:
    """What the operator does with one hit of the key, in event-time order."""
    facts = runtime.facts(h)
    if facts is None:
        return runtime.on_time(parts, h["timestamp_ms"], GROUP)
    record = {"key": "seq", "ts": h["timestamp_ms"], "hit_id": h["hit_id"], "group": GROUP,
              "evidence": [evidence_of(h)], "facts": facts}
    return runtime.on_record(parts, record, GROUP)


def feed(runtime: SequenceRuntime, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts: Parts = {}
    out: list[dict[str, Any]] = []
    for h in sorted(hits, key=lambda h: (h["timestamp_ms"], h["hit_id"])):
        out += on_hit(runtime, parts, h)
    return out


def test_injection_then_c2_within_15_minutes_is_one_alert() -> None:
    alerts = feed(SequenceRuntime(rule()), [hit(1, T0, "T1055"), hit(2, T0 + 14 * MIN, "T1071")])
    assert len(alerts) == 1
    assert [e["event_id"] for e in alerts[0]["evidence"]] == ["e1", "e2"]
    assert alerts[0]["first_ms"] == T0 and alerts[0]["last_ms"] == T0 + 14 * MIN


def test_c2_sixteen_minutes_later_is_no_alert() -> None:
    assert feed(SequenceRuntime(rule()), [hit(1, T0, "T1055"), hit(2, T0 + 16 * MIN, "T1071")]) == []


def test_wrong_order_is_no_alert() -> None:
    assert feed(SequenceRuntime(rule()), [hit(1, T0, "T1071"), hit(2, T0 + MIN, "T1055")]) == []


def test_parent_step_matches_sub_techniques_but_not_siblings() -> None:
    assert technique_matches("T1055", "T1055.012")
    assert not technique_matches("T1055", "T10551")
    assert not technique_matches("T1055.012", "T1055")
    alerts = feed(SequenceRuntime(rule()), [hit(1, T0, "T1055.012"), hit(2, T0 + MIN, "T1071.001")])
    assert len(alerts) == 1


def test_two_starts_then_one_completion_is_one_alert_from_the_earliest() -> None:
    alerts = feed(
        SequenceRuntime(rule()),
        [hit(1, T0, "T1055"), hit(2, T0 + MIN, "T1055"), hit(3, T0 + 2 * MIN, "T1071")],
    )
    assert len(alerts) == 1
    assert alerts[0]["evidence"][0]["event_id"] == "e1"


def test_three_steps_need_all_in_order() -> None:
    three = rule(steps=(("T1566",), ("T1055",), ("T1071",)))
    assert feed(SequenceRuntime(three), [hit(1, T0, "T1566"), hit(2, T0 + MIN, "T1071")]) == []
    done = feed(
        SequenceRuntime(three), [hit(1, T0, "T1566"), hit(2, T0 + MIN, "T1055"), hit(3, T0 + 2 * MIN, "T1071")]
    )
    assert [e["step"] for e in done[0]["evidence"]] == ["step1", "step2", "step3"]


def test_alert_id_is_deterministic_and_depends_on_evidence() -> None:
    a = feed(SequenceRuntime(rule()), [hit(1, T0, "T1055"), hit(2, T0 + MIN, "T1071")])
    b = feed(SequenceRuntime(rule()), [hit(1, T0, "T1055"), hit(2, T0 + MIN, "T1071")])
    c = feed(SequenceRuntime(rule()), [hit(1, T0, "T1055"), hit(3, T0 + MIN, "T1071")])
    assert a[0]["alert_id"] == b[0]["alert_id"] != c[0]["alert_id"]


def test_time_passing_drops_partials_whose_window_closed() -> None:
    runtime = SequenceRuntime(rule())
    parts: Parts = {}
    on_hit(runtime, parts, hit(1, T0, "T1055"))
    assert runtime.deadline(parts) == T0 + 15 * MIN + 1
    runtime.on_time(parts, T0 + 15 * MIN, GROUP)
    assert parts
    runtime.on_time(parts, T0 + 15 * MIN + 1, GROUP)
    assert parts == {}
    assert runtime.counters.expired == 1


def test_partials_per_key_are_capped() -> None:
    runtime = SequenceRuntime(rule(within="1d"))
    parts: Parts = {}
    for n in range(MAX_PARTIALS_PER_KEY + 10):
        on_hit(runtime, parts, hit(n, T0 + n, "T1055"))
    assert len(parts) == MAX_PARTIALS_PER_KEY
    assert runtime.counters.partials_capped == 10


@pytest.mark.parametrize("within", ["15 minutes", "", "15"])
def test_bad_window_is_rejected(within: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        rule(within=within)
