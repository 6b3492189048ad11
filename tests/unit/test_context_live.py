"""Context updates and the live mirror the scorers read (udfs.context): the update format, the
overlay of topic entries on the file inventory (topic wins, a tombstone brings the file back), the
broadcast state it keeps, a restore that rebuilds the same context, and topic records validated
into updates or dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.assets import Inventory
from udfs.context import live as live_module
from udfs.context.live import LiveContext, bind, extra_factors, kinds, register_factor
from udfs.context.topics import decode_record
from udfs.context.updates import decode, encode, state_key, update
from udfs.link.inventory import InventoryIndex, index_inventory, load_inventory
from udfs.score import Scorer

FILE = Inventory.model_validate({
    "kind": "asset_inventory",
    "assets": [{"name": "srv-db-01", "aliases": ["SRV-DB-01.corp.example"], "ips": ["10.0.0.5"],
                "criticality": "low", "role": "database_server"}],
    "identities": [{"user": "alice", "aliases": ["alice@corp.example"], "privilege_tier": "tier2"}],
})


class State(dict[str, str]):
    """The broadcast state's put / remove / items, as the PyFlink wrapper hands it over."""

    def put(self, key: str, value: str) -> None:
        self[key] = value

    def remove(self, key: str) -> None:
        self.pop(key, None)


def fresh() -> LiveContext:
    return LiveContext(index_inventory(FILE))


def snapshot(index: InventoryIndex) -> dict[str, Any]:
    return {name: dict(getattr(index, name)) for name in
            ("host_of_ip", "host_of_alias", "user_of_alias", "criticality", "assets", "identities", "change_windows")}


def hit(host: str, user: str | None = None, ts: int = 1_000) -> dict[str, Any]:
    return {"rule_id": "r", "level": "medium", "techniques": ["T1082"], "tactics": ["discovery"], "host": host,
            "user": user, "timestamp_ms": ts, "event": {"id": "e1"}}


def weight(severity: dict[str, Any], name: str) -> float:
    return next(f["weight"] for f in severity["factors"] if f["name"] == name)


# -- the update format -----------------------------------------------------------------------------

def test_an_update_round_trips_and_keys_by_kind_and_key() -> None:
    item = update("asset", "srv-1", {"name": "srv-1"}, 5)
    assert decode(encode(item)) == item
    assert state_key(item) == "asset|srv-1"
    assert decode(encode(update("asset", "srv-1", None)))["value"] is None


@pytest.mark.parametrize("text", ["[]", '{"kind": "asset"}', '{"kind": "asset", "key": "k", "value": 3}'])
def test_a_malformed_update_says_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        decode(text)


# -- the overlay -----------------------------------------------------------------------------------

def test_the_kinds_of_this_module_are_registered() -> None:
    assert {"asset", "identity", "change_window"} <= kinds()


def test_a_topic_asset_wins_over_the_file_and_a_tombstone_brings_the_file_back() -> None:
    live = fresh()
    before = snapshot(live.inventory)
    live.apply(update("asset", "srv-db-01", {"name": "srv-db-01", "ips": ["10.0.0.9"], "criticality": "critical"}))
    index = live.inventory
    assert index.criticality["srv-db-01"] == 10 and index.assets["srv-db-01"].role is None
    assert index.host_of_ip == {"10.0.0.9": "srv-db-01"}, "the file's address went with the file's entry"
    assert "srv-db-01.corp.example" not in index.host_of_alias
    live.apply(update("asset", "srv-db-01", None))
    assert snapshot(live.inventory) == before


def test_a_new_host_and_its_deletion() -> None:
    live = fresh()
    before = snapshot(live.inventory)
    live.apply(update("asset", "ws-new", {"name": "WS-NEW", "aliases": ["ws-new.corp"], "criticality": 8}))
    assert live.inventory.host("WS-NEW.corp") == "ws-new"
    assert live.inventory.criticality["ws-new"] == 8
    live.apply(update("asset", "ws-new", None))
    assert snapshot(live.inventory) == before


def test_identities_overlay_the_same_way() -> None:
    live = fresh()
    before = snapshot(live.inventory)
    live.apply(update("identity", "alice", {"user": "alice", "aliases": ["CORP\\alice"], "privilege_tier": 0}))
    assert live.inventory.identities["alice"].tier == "tier0"
    assert live.inventory.user("CORP\\alice") == "alice" and live.inventory.user("alice@corp.example") is None
    live.apply(update("identity", "alice", None))
    assert snapshot(live.inventory) == before


def test_an_unknown_kind_or_an_entry_that_does_not_validate_is_ignored_not_raised() -> None:
    live = fresh()
    before = snapshot(live.inventory)
    live.apply(update("from_a_newer_producer", "k", {"x": 1}))
    live.apply(update("asset", "srv-db-01", {"name": "srv-db-01", "criticality": "bogus"}))
    assert (live.applied, live.ignored) == (0, 2)
    assert snapshot(live.inventory) == before


def test_the_scorer_reads_an_update_on_its_next_hit() -> None:
    """Hot reload: the scorer (and every holder of the same inventory) sees the update at once."""
    scorer = Scorer(index_inventory(FILE))
    live = bind(scorer)
    assert weight(scorer.hit(hit("srv-db-01")), "asset_criticality") == 0.88  # low: 2
    live.apply(update("asset", "srv-db-01", {"name": "srv-db-01", "criticality": "critical"}))
    assert weight(scorer.hit(hit("SRV-DB-01")), "asset_criticality") == 1.2
    live.apply(update("asset", "srv-db-01", None))
    assert weight(scorer.hit(hit("srv-db-01")), "asset_criticality") == 0.88


def test_registered_extra_factors_join_the_scorer() -> None:
    register_factor("test_context_seen", lambda live: (lambda s: {"name": "seen", "weight": 0.5, "reason": "x"}))
    try:
        scorer = Scorer()
        bind(scorer)
        names = [f["name"] for f in scorer.hit(hit("h"))["factors"]]
        assert "seen" in names and names.index("seen") > names.index("change_window"), "after the built-in ones"
        assert len(extra_factors(LiveContext())) >= 1
    finally:
        live_module._FACTORIES.pop("test_context_seen")


# -- broadcast state and restore -------------------------------------------------------------------

def test_receive_keeps_the_latest_update_per_key_and_drops_tombstones() -> None:
    live, state = fresh(), State()
    live.receive(encode(update("asset", "a", {"name": "a", "criticality": 3})), state)
    live.receive(encode(update("asset", "a", {"name": "a", "criticality": 4})), state)
    live.receive(encode(update("asset", "b", {"name": "b"})), state)
    live.receive(encode(update("asset", "b", None)), state)
    assert list(state) == ["asset|a"] and decode(state["asset|a"])["value"]["criticality"] == 4


ENTRIES = st.sampled_from([
    ("asset", "srv-db-01", {"name": "srv-db-01", "criticality": 9, "ips": ["10.0.0.5"]}),
    ("asset", "srv-db-01", None),
    ("asset", "ws-2", {"name": "ws-2", "ips": ["10.0.0.7"], "aliases": ["ws-2.corp"]}),
    ("asset", "ws-2", None),
    ("identity", "alice", {"user": "alice", "service_account": True}),
    ("identity", "alice", None),
    ("identity", "bob", {"user": "bob", "aliases": ["bob@corp.example"]}),
    ("change_window", "CHG1", {"host": "ws-2", "start": 0, "end": 10, "ticket": "CHG1"}),
    ("change_window", "CHG1", {"user": "alice", "start": 0, "end": 10, "ticket": "CHG1"}),
    ("change_window", "CHG1", None),
])


@settings(max_examples=60, deadline=None)
@given(st.lists(ENTRIES, max_size=12))
def test_a_restore_from_the_state_rebuilds_the_same_context(entries: list[Any]) -> None:
    """What a job restored from a savepoint sees equals what the job that took it saw: replaying the
    broadcast state's entries (the latest per key, in any order) on the file inventory."""
    running, state = fresh(), State()
    for kind, key, value in entries:
        running.receive(encode(update(kind, key, value)), state)
    restored = fresh()
    restored.restore(reversed(list(state.items())))
    assert snapshot(restored.inventory) == snapshot(running.inventory)


# -- topic records ---------------------------------------------------------------------------------

def test_a_topic_record_becomes_an_update_keyed_by_the_canonical_name() -> None:
    text, dead = decode_record("asset", "assets", 0, 7, b"SRV-DB-01.corp.example", b'{"criticality": "high"}', 42)
    assert dead is None
    item = decode(text or "")
    assert (item["kind"], item["key"], item["ts"]) == ("asset", "srv-db-01", 42)
    assert item["value"] == {"name": "SRV-DB-01.corp.example", "aliases": [], "ips": [], "criticality": 8,
                             "tags": [], "data_sensitivity": []}
    tomb, _ = decode_record("identity", "ids", 0, 8, b"alice", None, 43)
    assert decode(tomb or "") == update("identity", "alice", None, 43)


@pytest.mark.parametrize(("kind", "key", "value", "reason"), [
    ("asset", b"h1", b'{"criticality": "bogus"}', "schema"),
    ("asset", b"h1", b'{"role": null, "colour": "red"}', "schema"),
    ("asset", b"h1", b'{"name": "h2"}', "key_mismatch"),
    ("asset", b"h1", b"{not json", "not_json"),
    ("asset", b"h1", b"[1]", "schema"),
    ("asset", None, b'{"name": "h1"}', "missing_key"),
    ("identity", b"bob", b'{"usual_countries": ["USA"]}', "schema"),
    ("change_window", b"CHG1", b'{"host": "h1", "start": 10, "end": 5, "ticket": "CHG1"}', "schema"),
])
def test_a_bad_entry_is_a_dead_letter_with_its_offset(kind: str, key: bytes | None, value: bytes, reason: str) -> None:
    text, dead = decode_record(kind, "ctx-topic", 2, 99, key, value, 1)
    assert text is None
    letter = orjson.loads(dead or "")
    assert letter["reason"] == reason and letter["detail"].startswith(f"{kind} entry: ")
    assert letter["origin"] == {"topic": "ctx-topic", "partition": 2, "offset": 99, "file": None, "line": None}
    assert letter["raw"] == value.decode()


def test_the_sample_inventory_still_loads(tmp_path: Path) -> None:
    assert load_inventory(Path(__file__).resolve().parents[2] / "rules" / "assets" / "inventory.yaml").assets
