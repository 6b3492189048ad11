"""Tactic progression: N distinct tactics within a window per entity, in kill-chain order."""

from __future__ import annotations

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit, progression, ruleset, run, with_hits
from udfs.correlate.engine import Correlation
from udfs.testing.harness import EventTimeHarness

EXECUTION, PRIV_ESC, CRED, C2 = "T1059.001", "T1068", "T1003.001", "T1071.001"


def _items(*techs: str, gap: int = 5 * MIN, host: str = "h"):
    return with_hits(*[(event(f"e{i}", T0 + i * gap, host=host), (t,)) for i, t in enumerate(techs)])


def test_three_tactics_climbing_the_kill_chain_alert() -> None:
    alerts = run(ruleset(progression()), _items(EXECUTION, PRIV_ESC, CRED)).alerts
    assert len(alerts) == 1
    assert alerts[0]["details"]["tactics"] == ["execution", "privilege-escalation", "credential-access"]
    assert [e["step"] for e in alerts[0]["evidence"]] == alerts[0]["details"]["tactics"]


def test_the_same_tactics_going_backwards_do_not() -> None:
    assert run(ruleset(progression()), _items(CRED, PRIV_ESC, EXECUTION)).alerts == []


def test_an_ordered_chain_can_skip_hits_in_between() -> None:
    alerts = run(ruleset(progression()), _items(EXECUTION, C2, PRIV_ESC, CRED)).alerts
    assert [a["details"]["tactics"] for a in alerts] == [["execution", "privilege-escalation", "credential-access"]]


def test_outside_the_window_is_no_alert() -> None:
    assert run(ruleset(progression(within="20m")), _items(EXECUTION, PRIV_ESC, CRED, gap=11 * MIN)).alerts == []


def test_one_hit_counts_for_one_tactic_only() -> None:
    # T1055 is both privilege-escalation and defense-evasion: with execution that is 2 distinct links, not 3.
    assert run(ruleset(progression()), _items(EXECUTION, "T1055")).alerts == []


def test_unordered_mode_takes_any_order() -> None:
    alerts = run(ruleset(progression(ordered=False)), _items(CRED, PRIV_ESC, EXECUTION)).alerts
    assert len(alerts) == 1


def test_a_tactic_subset_limits_what_counts() -> None:
    rule = progression(tactics=["execution", "credential-access", "command-and-control"])
    assert run(ruleset(rule), _items(EXECUTION, PRIV_ESC, CRED)).alerts == []
    assert len(run(ruleset(rule), _items(EXECUTION, PRIV_ESC, CRED, C2)).alerts) == 1


def test_state_per_entity_stays_small_however_many_hits() -> None:
    correlation = Correlation(ruleset(progression(min_tactics=14, within="1d")))
    harness = EventTimeHarness(correlation, out_of_orderness_ms=60_000)
    techniques = [EXECUTION, PRIV_ESC, CRED, C2, "T1082", "T1021", "T1566", "T1005", "T1041", "T1486"]
    for i in range(2_000):
        ev = event(f"e{i}", T0 + i * 1000, host="busy")
        harness.push(ev, with_hits((ev, (techniques[i % len(techniques)],)))[0][1])
    size = harness.stage1.state_bytes()
    assert harness.alerts == [] and 0 < size < 64_000


def test_two_detections_of_one_event_are_one_link() -> None:
    ev = event("e", T0 + MIN, host="h")
    first = event("x", T0, host="h")
    items = [(first, with_hits((first, (EXECUTION,)))[0][1]),
             (ev, [*with_hits((ev, (PRIV_ESC,)))[0][1], hit(ev, CRED, rule_id="another-rule")])]
    assert run(ruleset(progression()), items).alerts == []
