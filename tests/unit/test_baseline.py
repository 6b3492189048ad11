"""Adaptive baselines (udfs.baseline, docs/scoring.md "Adaptive baselines"): the decay, the bounds,
the warm-up, the handler's cumulative entries (what a restore rebuilds from) and the
``technique_rarity`` factor."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.assets import Inventory
from udfs.analyze import HitRows
from udfs.baseline.factor import technique_rarity
from udfs.baseline.handler import apply_update, baselines_of
from udfs.baseline.keys import BASE_KEY, baseline_keys, scope_of
from udfs.baseline.state import DAY_MS, HOUR_MS, Baselines, Settings
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.rules import load_ruleset
from udfs.link.inventory import AssetContext, index_inventory
from udfs.score import Scorer
from udfs.score.subject import Observation, Subject

T0 = 1_700_000_000_000 // HOUR_MS * HOUR_MS
BUILD = AssetContext(name="build-1", role="build_server")


class Live:
    def __init__(self) -> None:
        self.extras: dict[str, Any] = {}


def _subject(*pairs: tuple[str, str], assets: dict[str, AssetContext] | None = None) -> Subject:
    obs = tuple(Observation(ref=f"e{i}", host=h, user=None, techniques=(t,), tactics=()) for i, (h, t) in
                enumerate(pairs))
    return Subject(level="medium", observations=obs, tactics=(), assets=assets if assets is not None else
                   {"build-1": BUILD})


def _warm(b: Baselines, scope: str = "role:build_server", hours: int = 30, per_hour: int = 5) -> None:
    for h in range(hours):
        b.add(scope, "T1027", per_hour, T0 + (h + 1) * HOUR_MS)


def test_keys_name_the_role_else_the_host_and_are_safe_in_json() -> None:
    assert scope_of("build-1", BUILD) == "role:build_server"
    assert scope_of("lab-9", None) == "host:lab-9"
    assert scope_of(None, None) is None
    both = "role:build_server|T1027,role:build_server|T1059"
    assert baseline_keys("role:build_server", ["T1027", "T1059", "T1027"]) == both
    assert baseline_keys(scope_of('a"b,c|d\\e', None), ["T1"]) == "host:a_b_c_d_e|T1"
    assert baseline_keys(None, ["T1"]) is None and baseline_keys("host:x", []) is None


def test_decay_halves_per_half_life_in_event_time() -> None:
    b = Baselines(Settings(half_life_ms=DAY_MS))
    b.add("role:r", "T1", 8, T0)
    b.add("role:r", "T2", 1, T0 + DAY_MS)  # moves the scope's time: T1 decays once
    assert b.scopes["role:r"].counts["T1"] == pytest.approx(4.0)
    b.add("role:r", "T1", 2, T0 + DAY_MS)
    assert b.scopes["role:r"].counts["T1"] == pytest.approx(6.0)
    b.add("role:r", "T1", 4, T0)  # an older window (another subtask's): decayed to the scope's time
    assert b.scopes["role:r"].counts["T1"] == pytest.approx(8.0)
    assert b.scopes["role:r"].as_of == T0 + DAY_MS


def test_bounds_keep_top_k_and_drop_below_the_floor() -> None:
    b = Baselines(Settings(half_life_ms=HOUR_MS, top_k=3, floor=0.7))
    for n, t in enumerate(["T1", "T2", "T3", "T4"], start=1):
        b.add("role:r", t, n * 10, T0)
    assert set(b.scopes["role:r"].counts) == {"T2", "T3", "T4"}  # the smallest went
    b.add("role:r", "T4", 1, T0 + 5 * HOUR_MS)  # 20 -> 0.625 (gone), 30 -> 0.94, 40 -> 1.25 (+1)
    assert set(b.scopes["role:r"].counts) == {"T3", "T4"}
    b.add("role:r", "T4", 1, T0 + 20 * HOUR_MS)  # everything else decays away; T4 is fresh
    assert set(b.scopes["role:r"].counts) == {"T4"}
    b.add("role:other", "T9", 1, T0)
    b.add("role:other", "T8", 1, T0 + 10 * HOUR_MS)
    assert set(b.scopes["role:other"].counts) == {"T8"}


def test_warm_up_needs_the_hours_and_the_hits() -> None:
    s = Settings()
    b = Baselines(s)
    b.add("role:r", "T1", 1000, T0 + HOUR_MS)  # a burst within an hour does not warm the role
    assert not b.warm(b.scopes["role:r"])
    b2 = Baselines(s)
    for h in range(30):  # a day and more, but 1 hit a day is too few
        b2.add("role:r", "T1", 1 if h in (0, 29) else 0, T0 + (h + 1) * HOUR_MS)
    assert not b2.warm(b2.scopes["role:r"])
    b3 = Baselines(s)
    _warm(b3, "role:r", hours=24)
    assert b3.warm(b3.scopes["role:r"])


def test_factor_routine_lighter_never_seen_heavier_warming_up_neutral() -> None:
    b = Baselines()
    _warm(b)
    for h in (28, 29):
        b.add("role:build_server", "T1059", 1, T0 + (h + 1) * HOUR_MS)  # ~1% of the role's hits
    routine = technique_rarity(b, _subject(("build-1", "T1027")))
    assert routine["weight"] == 0.8 and "T1027 on role build_server: decayed count" in routine["reason"]
    rare = technique_rarity(b, _subject(("build-1", "T1048")))
    assert rare["weight"] == 1.2 and "T1048 never seen on role build_server" in rare["reason"]
    between = technique_rarity(b, _subject(("build-1", "T1059")))
    assert 1.0 < between["weight"] < 1.2
    heaviest = technique_rarity(b, _subject(("build-1", "T1027"), ("build-1", "T1048")))
    assert heaviest["weight"] == 1.2  # a routine first step never discounts a rare second one
    cold = Baselines()
    cold.add("role:build_server", "T1027", 5, T0 + HOUR_MS)
    cold.add("role:build_server", "T1027", 5, T0 + 3 * HOUR_MS)
    warming = technique_rarity(cold, _subject(("build-1", "T1048")))
    assert warming["weight"] == 1.0
    assert "baseline warming up for role build_server: 3 of 24 hours seen, 10 of 20 hits" in warming["reason"]
    assert technique_rarity(None, _subject(("build-1", "T1048")))["weight"] == 1.0  # cold start
    mixed = technique_rarity(b, _subject(("build-1", "T1027"), ("lab-2", "T1027"), assets={"build-1": BUILD}))
    assert mixed["weight"] == 1.0 and "no baseline yet for host lab-2" in mixed["reason"]
    assert technique_rarity(b, _subject(assets={}))["weight"] == 1.0


def test_handler_keeps_cumulative_entries_that_rebuild_the_same_baselines() -> None:
    live = Live()
    stored: dict[str, str] = {}  # what the mechanism puts to the broadcast state, after applying
    for h in range(30):
        for key, n in (("role:build_server|T1027", 5), ("role:build_server|T1059", 1)):
            end = T0 + (h + 1) * HOUR_MS
            update = {"kind": "baseline", "key": key, "ts": end,
                      "value": {"count": n, "window_end": end, "window_ms": HOUR_MS, "half_life_ms": DAY_MS}}
            apply_update(live, update)
            stored[f"baseline|{key}"] = json.dumps(update)
    before = baselines_of(live)
    assert before is not None and before.settings.half_life_ms == DAY_MS
    restored = Live()
    for text in reversed(list(stored.values())):  # any order
        apply_update(restored, json.loads(text))
    after = baselines_of(restored)
    assert after is not None
    assert after.scopes["role:build_server"].counts == pytest.approx(before.scopes["role:build_server"].counts)
    assert after.scopes["role:build_server"].first_ms == T0
    subject = _subject(("build-1", "T1027"))
    assert technique_rarity(after, subject) == technique_rarity(before, subject)
    apply_update(restored, {"kind": "baseline", "key": "role:build_server|T1059", "value": None, "ts": 0})
    assert "T1059" not in after.scopes["role:build_server"].counts


def test_hit_rows_carry_the_baseline_keys_only_when_enabled(tmp_path: Any) -> None:
    inv = index_inventory(Inventory.model_validate({"kind": "asset_inventory",
                                                    "assets": [{"name": "build-1", "role": "build_server"}]}))
    plan = CorrelationPlan(load_ruleset(str(tmp_path)))
    hit = {"hit_id": "h1", "timestamp_ms": T0, "rule_id": "r", "level": "medium", "host": "BUILD-1",
           "techniques": ["T1027", "T1059"], "tactics": ["defense_evasion"], "event": {"id": "e1"}}
    on = HitRows(plan, inv, Scorer(inv), baselines=True).row(hit, {"id": "e1"})
    assert on[6][BASE_KEY] == "role:build_server|T1027,role:build_server|T1059"
    off = HitRows(plan, inv, Scorer(inv)).row(hit, {"id": "e1"})
    assert BASE_KEY not in off[6]
    other = HitRows(plan, inv, Scorer(inv), baselines=True).row({**hit, "host": "lab-7"}, {"id": "e1"})
    assert other[6][BASE_KEY] == "host:lab-7|T1027,host:lab-7|T1059"


class State(dict[str, str]):
    """The broadcast state's put / remove / items, as udfs.context.live.LiveContext.receive uses them."""

    def put(self, key: str, value: str) -> None:
        self[key] = value

    def remove(self, key: str) -> None:
        self.pop(key, None)


def test_the_broadcast_state_keeps_cumulative_counts_through_the_live_context() -> None:
    from udfs.baseline.kind import rarity_factor
    from udfs.context.live import LiveContext
    from udfs.context.updates import encode

    live, state = LiveContext(), State()
    assert rarity_factor(live)(_subject(("build-1", "T1027"))) is None  # no update yet: not listed
    for h in range(30):
        end = T0 + (h + 1) * HOUR_MS
        value = {"count": 5, "window_end": end, "window_ms": HOUR_MS, "half_life_ms": DAY_MS}
        live.receive(encode({"kind": "baseline", "key": "role:build_server|T1027", "value": value, "ts": end}), state)
    (stored,) = state.values()
    entry = json.loads(stored)["value"]["entry"]
    assert entry["hits"] == 150 and entry["first_ms"] == T0 and entry["as_of"] == T0 + 30 * HOUR_MS
    restored = LiveContext()
    restored.restore(state.items())
    found = rarity_factor(restored)(_subject(("build-1", "T1027")))
    assert found is not None and found["weight"] == 0.8
    assert found == rarity_factor(live)(_subject(("build-1", "T1027")))
