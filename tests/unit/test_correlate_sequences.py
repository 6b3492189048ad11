"""Sequence rules through the event-time harness: the seed campaign, and each step feature."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit, ruleset, run, sequence, with_hits
from udfs.correlate.drafts import MAX_EVIDENCE
from udfs.correlate.engine import Correlation
from udfs.correlate.rules import load_ruleset, load_sequence_rules
from udfs.rulefile import RuleFileError
from udfs.testing.harness import EventTimeHarness

BUNDLED = Path(__file__).resolve().parents[2] / "rules"
SEED_RULE = "ttpflow-seq-injection-then-c2"


def _bundled_alerts(items):
    rules = load_ruleset(BUNDLED)
    return [a for a in run(rules, items).alerts if a["rule_id"] == SEED_RULE]


def test_seed_injection_then_c2_within_15_minutes_is_one_campaign_alert() -> None:
    a = event("a", T0, host="ws-1")
    b = event("b", T0 + 14 * MIN, host="ws-1")
    alerts = _bundled_alerts(with_hits((a, ("T1055.012",)), (b, ("T1071.001",))))
    assert len(alerts) == 1
    assert alerts[0]["entity"] == "ws-1" and alerts[0]["group_by"] == "host"
    assert [e["event_id"] for e in alerts[0]["evidence"]] == ["a", "b"]
    assert [e["step"] for e in alerts[0]["evidence"]] == ["injection", "c2"]


def test_seed_c2_at_16_minutes_is_no_alert() -> None:
    a = event("a", T0, host="ws-1")
    b = event("b", T0 + 16 * MIN, host="ws-1")
    assert _bundled_alerts(with_hits((a, ("T1055",)), (b, ("T1071",)))) == []


def test_c2_seen_only_as_a_zeek_conn_for_the_hosts_address_links_and_fires() -> None:
    from tests.unit.test_correlate_fixtures import zeek_conn

    injection = event("inj", T0, host="WS-1.corp.example", host_ips=("10.0.0.7",))  # teaches 10.0.0.7 -> ws-1
    conn = zeek_conn("CAcJw21", T0 + 5 * MIN, "10.0.0.7", "185.220.101.34")
    alerts = _bundled_alerts([(injection, [hit(injection, "T1055")]), (conn, [hit(conn, "T1071.001")])])
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["entity"] == "ws-1"
    assert [(e["source_format"], e["host"]) for e in alert["evidence"]] == [("plain_json", "ws-1"), ("zeek", "ws-1")]
    assert alert["evidence"][1]["event_id"] == "CAcJw21"


def test_a_zeek_conn_from_an_address_bound_only_later_does_not_link() -> None:
    from tests.unit.test_correlate_fixtures import zeek_conn

    injection = event("inj", T0, host="ws-1")
    conn = zeek_conn("C1", T0 + 5 * MIN, "10.0.0.7", "185.220.101.34")
    later = event("later", T0 + 6 * MIN, host="ws-1", host_ips=("10.0.0.7",))  # the binding comes after
    items = [(injection, [hit(injection, "T1055")]), (conn, [hit(conn, "T1071")]), (later, [])]
    assert _bundled_alerts(items) == []


def test_by_joins_steps_on_the_same_value() -> None:
    rule = sequence([{"techniques": ["T1110"], "by": ["user.name"]}, {"techniques": ["T1078"], "by": ["user.name"]}])
    same = with_hits((event("f", T0, host="h", user="bob"), ("T1110",)),
                     (event("s", T0 + MIN, host="h", user="BOB"), ("T1078",)))
    other = with_hits((event("f", T0, host="h", user="bob"), ("T1110",)),
                      (event("s", T0 + MIN, host="h", user="eve"), ("T1078",)))
    assert len(run(ruleset(rule), same).alerts) == 1
    assert run(ruleset(rule), other).alerts == []


def test_until_cancels_the_open_partial() -> None:
    rule = sequence([{"techniques": ["T1055"]}, {"techniques": ["T1071"]}], until={"rule_ids": ["ack"]})
    a, b = event("a", T0, host="h"), event("b", T0 + 5 * MIN, host="h")
    ack = event("ack", T0 + 2 * MIN, host="h")
    cancelled = [(a, [hit(a, "T1055")]), (ack, [hit(ack, rule_id="ack")]), (b, [hit(b, "T1071")])]
    assert run(ruleset(rule), cancelled).alerts == []
    late_ack = event("ack", T0 + 6 * MIN, host="h")
    fine = [(a, [hit(a, "T1055")]), (b, [hit(b, "T1071")]), (late_ack, [hit(late_ack, rule_id="ack")])]
    assert len(run(ruleset(rule), fine).alerts) == 1


def _absence_rule():
    return sequence([{"name": "a", "techniques": ["T1136"]},
                     {"name": "no-b", "techniques": ["T1098"], "absent": True, "max_gap": "10m"}])


def test_absence_fires_when_the_watermark_passes_the_deadline_not_before() -> None:
    harness = EventTimeHarness(Correlation(ruleset(_absence_rule())), out_of_orderness_ms=60_000)
    a = event("a", T0, host="h")
    harness.push(a, [hit(a, "T1136")])
    # The window is (T0, T0 + 10m]: a B at T0 + 10m would still break it, so the watermark must pass it.
    tick = event("tick", T0 + 10 * MIN + 60_001, host="other")  # watermark = ts - bound - 1 = T0 + 10m
    harness.push(tick, [])
    assert harness.alerts == []
    tick2 = event("tick2", T0 + 10 * MIN + 60_002, host="other")  # watermark T0 + 10m + 1: decided
    harness.push(tick2, [])
    assert [(x["rule_id"], x["entity"]) for x in harness.alerts] == [("seq", "h")]
    assert harness.alerts[0]["details"]["absences"] == [{"step": "no-b", "from_ms": T0, "to_ms": T0 + 10 * MIN}]


def test_absence_is_broken_by_the_hit_inside_the_window_and_not_by_one_after() -> None:
    inside = with_hits((event("a", T0, host="h"), ("T1136",)), (event("b", T0 + 10 * MIN, host="h"), ("T1098",)))
    assert run(ruleset(_absence_rule()), inside).alerts == []
    after = with_hits((event("a", T0, host="h"), ("T1136",)), (event("b", T0 + 10 * MIN + 1, host="h"), ("T1098",)))
    assert len(run(ruleset(_absence_rule()), after).alerts) == 1


def test_absence_between_two_steps() -> None:
    rule = sequence([{"techniques": ["T1566"]}, {"techniques": ["T1204"], "absent": True, "max_gap": "5m"},
                     {"techniques": ["T1071"]}])
    ok = with_hits((event("a", T0, host="h"), ("T1566",)), (event("c", T0 + 6 * MIN, host="h"), ("T1071",)))
    assert len(run(ruleset(rule), ok).alerts) == 1
    broken = with_hits((event("a", T0, host="h"), ("T1566",)), (event("b", T0 + 3 * MIN, host="h"), ("T1204",)),
                       (event("c", T0 + 6 * MIN, host="h"), ("T1071",)))
    assert run(ruleset(rule), broken).alerts == []
    too_soon = with_hits((event("a", T0, host="h"), ("T1566",)), (event("c", T0 + 4 * MIN, host="h"), ("T1071",)))
    assert run(ruleset(rule), too_soon).alerts == []


def test_max_gap_bounds_the_time_since_the_previous_step() -> None:
    rule = sequence([{"techniques": ["T1055"]}, {"techniques": ["T1071"], "max_gap": "2m"}], within="15m")
    near = with_hits((event("a", T0, host="h"), ("T1055",)), (event("b", T0 + 2 * MIN, host="h"), ("T1071",)))
    far = with_hits((event("a", T0, host="h"), ("T1055",)), (event("b", T0 + 3 * MIN, host="h"), ("T1071",)))
    assert len(run(ruleset(rule), near).alerts) == 1
    assert run(ruleset(rule), far).alerts == []


def test_repeated_step_needs_its_count() -> None:
    rule = sequence([{"name": "guess", "techniques": ["T1110"], "count": 3}, {"name": "in", "techniques": ["T1078"]}])
    three = with_hits(*[(event(f"f{i}", T0 + i * 1000, host="h"), ("T1110",)) for i in range(3)],
                      (event("s", T0 + MIN, host="h"), ("T1078",)))
    two = with_hits(*[(event(f"f{i}", T0 + i * 1000, host="h"), ("T1110",)) for i in range(2)],
                    (event("s", T0 + MIN, host="h"), ("T1078",)))
    alerts = run(ruleset(rule), three).alerts
    assert len(alerts) == 1
    assert [e["step"] for e in alerts[0]["evidence"]] == ["guess", "guess", "guess", "in"]
    assert run(ruleset(rule), two).alerts == []


def test_evidence_per_match_is_capped_and_counted() -> None:
    rule = sequence([{"techniques": ["T1110"], "count": MAX_EVIDENCE + 8}, {"techniques": ["T1078"]}], within="1h")
    items = with_hits(*[(event(f"f{i}", T0 + i * 1000, host="h"), ("T1110",)) for i in range(MAX_EVIDENCE + 8)],
                      (event("s", T0 + 10 * MIN, host="h"), ("T1078",)))
    correlation = Correlation(ruleset(rule))
    result = EventTimeHarness(correlation, out_of_orderness_ms=60_000).run(items)
    assert len(result.alerts) == 1 and len(result.alerts[0]["evidence"]) == MAX_EVIDENCE
    evidence = result.alerts[0]["evidence"]
    assert evidence[0]["event_id"] == "f0" and evidence[-1]["event_id"] == "s"  # the start and the end stay
    # The completing partial alone dropped 8; the partials that started later dropped some too.
    assert correlation.counters.evidence_capped >= 8


def test_steps_by_tactic_rule_id_and_field_predicate() -> None:
    rule = sequence([
        {"tactics": ["credential-access"]},
        {"rule_ids": ["sigma-lateral"]},
        {"where": {"process.name": {"in": ["psexec.exe", "paexec.exe"]}, "destination.port": 445}},
    ], within="30m")
    a = event("a", T0, host="h")
    b = event("b", T0 + MIN, host="h")
    c = event("c", T0 + 2 * MIN, host="h", process={"name": "PsExec.exe"}, destination={"ip": "10.0.0.9", "port": 445})
    items = [(a, [hit(a, "T1003.001")]), (b, [hit(b, rule_id="sigma-lateral")]), (c, [hit(c, rule_id="any")])]
    assert len(run(ruleset(rule), items).alerts) == 1
    c_wrong = event("c", T0 + 2 * MIN, host="h", process={"name": "PsExec.exe"}, destination={"port": 3389})
    items[2] = (c_wrong, [hit(c_wrong, rule_id="any")])
    assert run(ruleset(rule), items).alerts == []


def test_user_grouped_sequence_spans_hosts() -> None:
    rule = sequence([{"techniques": ["T1078"]}, {"techniques": ["T1021"]}], group_by="user")
    items = with_hits((event("a", T0, host="h1", user="CORP\\Bob"), ("T1078",)),
                      (event("b", T0 + MIN, host="h2", user="bob@corp.example"), ("T1021",)))
    alerts = run(ruleset(rule), items).alerts
    assert [(a["entity"], a["group_by"]) for a in alerts] == [("bob", "user")]
    assert [e["host"] for e in alerts[0]["evidence"]] == ["h1", "h2"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("  - techniques: [T1055]\n    absent: true\n    max_gap: 5m\n  - techniques: [T1071]\n",
         ":8: field steps.0.absent"),
        ("  - techniques: [T1055]\n  - techniques: [T1071]\n    absent: true\n", ":8: field steps.1"),
        ("  - techniques: [T1055]\n    by: [user.name]\n  - techniques: [T1071]\n    by: [a, b]\n",
         ":10: field steps.1.by"),
        ("  - tactics: [lateral-moves]\n  - techniques: [T1071]\n", ":7: field steps.0.tactics.0"),
        ("  - where: {process.name: {regex: '('}}\n  - techniques: [T1071]\n", ":7: field steps.0.where.process.name"),
        ("  - techniques: [T1055]\n    max_gap: soon\n  - techniques: [T1071]\n", ":8: field steps.0.max_gap"),
    ],
)
def test_bad_sequence_rules_name_file_line_and_field(tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / "sequences").mkdir()
    path = tmp_path / "sequences" / "bad.yaml"
    path.write_text(f"kind: sequence\nid: x\ntitle: t\nwithin: 15m\ngroup_by: host\nsteps:\n{body}")
    with pytest.raises(RuleFileError) as err:
        load_sequence_rules(tmp_path)
    assert f"{path}{where}" in str(err.value)


def test_bundled_packs_load() -> None:
    rules = load_ruleset(BUNDLED)
    assert {r.id for r in rules.sequences} >= {SEED_RULE, "ttpflow-seq-credential-dump-then-lateral"}
    assert [r.id for r in rules.progressions] == ["ttpflow-progression-kill-chain"]
    assert {c.type for c in rules.correlations} >= {"temporal_ordered", "event_count", "value_count"}
