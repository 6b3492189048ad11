"""Keyed state of the Python-path correlate operator: versioned records, what the previous release
stored still read, and the operator core on in-memory state (what the job's wrapper binds)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit
from udfs.correlate import state
from udfs.correlate.engine import Correlation
from udfs.correlate.operator import CorrelateOperator
from udfs.correlate.rules import load_ruleset
from udfs.correlate.runtime import make_key
from udfs.testing.memory import MemoryStore, MemoryTimers

BUNDLED = Path(__file__).resolve().parents[2] / "rules"
RULE = "ttpflow-seq-injection-then-c2"
KEY = make_key(RULE, {"host": "ws-1"})


def _evidence(event_id: str, ts: int, technique: str) -> dict:
    return {"timestamp_ms": ts, "event_id": event_id, "raw_sha256": event_id * 16, "source_format": "plain_json",
            "rule_id": "event:attck_technique", "techniques": [technique], "tactics": ["command-and-control"],
            "host": "ws-1", "user": None, "asset_criticality": None}


def _previous_release_state() -> tuple[MemoryStore[int, str], MemoryStore[str, str]]:
    """What the previous release stored for ws-1: step one matched, the C2 hit buffered (records v1,
    with short keys), exactly as its encoders wrote them."""
    first = {"pid": f"{T0}:a", "next_step": 1, "n": 0, "first_ms": T0, "last_ms": T0, "step_ms": T0,
             "join": None, "evidence": [{"step": "injection", **_evidence("a", T0, "T1055")}], "absences": []}
    partials: MemoryStore[str, str] = MemoryStore()
    partials.put("~group", orjson.dumps({"v": 2, "p": {"host": "ws-1"}}).decode())
    partials.put(first["pid"], orjson.dumps({"v": 2, "p": first}).decode())
    buffered = {"key": KEY, "ts": T0 + 5 * MIN, "hit_id": "b:event", "group": {"host": "ws-1"},
                "evs": [_evidence("b", T0 + 5 * MIN, "T1071")], "p": {"s": [1], "j": {}, "u": False}}
    buffer: MemoryStore[int, str] = MemoryStore()
    buffer.put(T0 + 5 * MIN, orjson.dumps({"v": 1, "hits": [buffered]}).decode())
    return buffer, partials


def test_state_the_previous_release_stored_completes_its_match() -> None:
    core = CorrelateOperator(Correlation(load_ruleset(BUNDLED)), allowed_lateness_ms=0)
    buffer, partials = _previous_release_state()
    timers = MemoryTimers()
    out = core.on_timer(KEY, T0 + 5 * MIN, timers.of(KEY), buffer, partials)
    assert [[e["event_id"] for e in a["evidence"]] for a in out.alerts] == [["a", "b"]]
    assert buffer == {} and partials == {} and timers.queue == []


def test_records_v1_are_read_with_named_keys() -> None:
    buffer, _ = _previous_release_state()
    [record] = state.decode_records(buffer.get(T0 + 5 * MIN))
    assert sorted(record) == ["evidence", "facts", "group", "hit_id", "key", "ts"]
    assert record["facts"] == {"steps": [1], "join": {}, "until": False}


def test_the_core_buffers_until_the_watermark_and_keeps_a_timer_at_the_next_deadline() -> None:
    correlation = Correlation(load_ruleset(BUNDLED))
    core = CorrelateOperator(correlation, allowed_lateness_ms=0)
    buffer: MemoryStore[int, str] = MemoryStore()
    partials: MemoryStore[str, str] = MemoryStore()
    timers = MemoryTimers()
    [record] = [r for r in correlation.route(hit(event("a", T0, host="ws-1"), "T1055")) if r["key"] == KEY]
    assert core.on_record(record, timers.of(KEY), buffer) is None
    assert list(buffer) == [T0] and timers.queue == [(T0, KEY)]
    [(t, key)] = list(timers.due(T0))
    assert core.on_timer(key, t, timers.of(key), buffer, partials).alerts == []
    assert buffer == {} and state.decode_part(partials["~group"]) == {"host": "ws-1"}
    assert timers.queue == [(T0 + 15 * MIN + 1, KEY)], "the window's end"
    late = core.on_record(record, timers.of(KEY), buffer)
    assert late is not None and late["reason"] == "behind_watermark" and core.counters.records_late == 1


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


def test_buffered_records_from_a_newer_build_are_refused() -> None:
    with pytest.raises(state.StateVersionError, match="newer"):
        state.decode_records(json.dumps({"v": state.RECORDS_VERSION + 1, "records": []}))


def test_record_migrations_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "RECORDS_VERSION", 3)
    monkeypatch.setitem(state._RECORDS_MIGRATIONS, 2, lambda rec: {"v": 3, "records": rec["records"][::-1]})
    v1 = {"v": 1, "hits": [{"ts": i, "evs": [], "p": {"t": []}} for i in (1, 2)]}
    assert [r["ts"] for r in state.decode_records(json.dumps(v1))] == [2, 1]


def test_state_of_a_removed_rule_is_dropped_when_its_timer_fires() -> None:
    core = CorrelateOperator(Correlation(load_ruleset(BUNDLED)), allowed_lateness_ms=0)
    gone = make_key("a-rule-that-is-gone", {"host": "ws-1"})
    partials: MemoryStore[str, str] = MemoryStore(
        {"~group": state.encode_part({"host": "ws-1"}), "1:x": state.encode_part({"first_ms": T0})})
    timers = MemoryTimers()
    out = core.on_timer(gone, T0, timers.of(gone), MemoryStore(), partials)
    assert partials == {} and out.alerts == [] and timers.queue == []
