"""Keyed state of the correlate operators: versioned records, and the v1 -> v2 hand-over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit
from udfs.correlate import state
from udfs.correlate.engine import Correlation
from udfs.correlate.operator import CorrelatorCore
from udfs.correlate.runtime import GROUP_ENTRY, make_key
from udfs.rules import load_ruleset

BUNDLED = Path(__file__).resolve().parents[2] / "rules"
RULE = "ttpflow-seq-injection-then-c2"


def _v1_record() -> str:
    """What the walking skeleton (v1) stored for host ws-1 after a T1055 hit."""
    evidence = {"step": "injection", "timestamp_ms": T0, "event_id": "a", "raw_sha256": "aaaaaaaaaaaaaaaa",
                "source_format": "plain_json", "rule_id": "event:attck_technique", "techniques": ["T1055"],
                "tactics": ["defense-evasion", "privilege-escalation"], "host": "ws-1", "user": None,
                "asset_criticality": None}
    partial = {"next_step": 1, "first_ms": T0, "last_ms": T0, "evidence": [evidence]}
    return state.encode_partials({RULE: [partial]})


def test_a_v1_partial_is_handed_over_and_completes_under_the_v2_layout() -> None:
    correlation = Correlation(load_ruleset(BUNDLED))
    [(rule_id, partial)] = state.seeds_from_v1("ws-1", _v1_record())
    assert rule_id == RULE and partial["next_step"] == 1 and partial["n"] == 0 and partial["pid"]
    key = make_key(RULE, {"host": "ws-1"})
    parts: dict = {}
    correlation.seed(key, parts, partial, {"host": "ws-1"})
    assert correlation.deadline(key, parts) == T0 + 15 * MIN + 1
    c2 = event("b", T0 + 5 * MIN, host="ws-1")
    records = [r for r in correlation.route(hit(c2, "T1071.001")) if r["key"] == key]
    out, deadline = CorrelatorCore(correlation).fire(key, T0 + 5 * MIN, {T0 + 5 * MIN: records}, parts)
    assert [[e["event_id"] for e in a["evidence"]] for a in out.alerts] == [["a", "b"]]
    assert deadline is None and parts == {}


def test_v2_partials_round_trip_with_their_version() -> None:
    part = {"pid": "1:x", "next_step": 1, "n": 0, "first_ms": 1, "last_ms": 1, "step_ms": 1, "join": None,
            "evidence": [], "absences": []}
    text = state.encode_part(part)
    assert json.loads(text)["v"] == state.PARTIAL_VERSION == 2
    assert state.decode_part(text) == part


@pytest.mark.parametrize("record", [{"v": 3, "p": {}}, {"p": {}}])
def test_partials_from_a_newer_build_or_without_a_version_are_refused(record: dict) -> None:
    with pytest.raises(state.StateVersionError, match="version"):
        state.decode_part(json.dumps(record))


def test_bindings_are_versioned_too() -> None:
    text = state.encode_binding([[T0, "ws-1", "dhcp"]])
    assert json.loads(text)["v"] == state.BINDINGS_VERSION
    assert state.decode_binding(text) == [[T0, "ws-1", "dhcp"]]
    with pytest.raises(state.StateVersionError):
        state.decode_binding(json.dumps({"v": 99, "b": []}))


def test_state_of_a_removed_rule_is_dropped_when_its_timer_fires() -> None:
    correlation = Correlation(load_ruleset(BUNDLED))
    parts = {GROUP_ENTRY: {"host": "ws-1"}, "1:x": {"first_ms": T0}}
    out = correlation.on_time(make_key("a-rule-that-is-gone", {"host": "ws-1"}), parts, T0)
    assert parts == {} and out.alerts == []
