"""Results do not depend on arrival order: the same events, delivered in many orders within the
out-of-orderness bound (and with watermarks at different cadences), give the same alerts.

The events mix everything order could upset: sequences with absence and repeats, a Sigma count, a
tactic progression, and network hits that only link to their host through a binding learned from
another event at nearly the same time.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit, progression, ruleset, run, sequence, zeek_conn
from udfs.correlate.sigma_load import load_sigma_correlations

BOUND = 60_000
TECHNIQUES = ["T1055", "T1071", "T1059.001", "T1068", "T1003.001", "T1136", "T1098", "T1110", "T1078"]


def _rules(tmp_dir: Any):
    (tmp_dir / "mr.yml").write_text(
        "title: burst\nid: 11111111-2222-4333-8444-555555555555\ncorrelation:\n  type: event_count\n"
        "  rules: [event:attck_technique]\n  group-by: [host]\n  timespan: 3m\n  condition: {gte: 4}\n"
    )
    return ruleset(
        sequence([{"techniques": ["T1055"]}, {"techniques": ["T1071"]}], rule_id="inject-c2"),
        sequence([{"techniques": ["T1136"]}, {"techniques": ["T1098"], "absent": True, "max_gap": "4m"}],
                 rule_id="create-no-change"),
        sequence([{"techniques": ["T1110"], "count": 2}, {"techniques": ["T1078"], "max_gap": "3m"}],
                 rule_id="guess-then-login"),
        progression(min_tactics=3, within="20m"),
        *load_sigma_correlations([tmp_dir]),
    )


def _scenario(seed: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    items = []
    for h in range(6):
        host, ip = f"ws-{h}", f"10.0.0.{10 + h}"
        start = T0 + rng.randrange(0, 5 * MIN)
        # The host shows its address a little before or after its first network hit.
        items.append((event(f"{host}-boot", start + rng.randrange(-20_000, 20_000), host=host, host_ips=(ip,)), []))
        for n in range(rng.randrange(4, 9)):
            ts = start + rng.randrange(0, 20 * MIN)
            technique = rng.choice(TECHNIQUES)
            if technique == "T1071" and rng.random() < 0.6:
                ev = zeek_conn(f"{host}-c{n}", ts, ip, "185.220.101.34")
            else:
                ev = event(f"{host}-e{n}", ts, host=host)
            items.append((ev, [hit(ev, technique)]))
    items.sort(key=lambda item: (item[0]["timestamp_ms"], item[0]["id"]))
    return items


def _shuffled(items: list, rng: random.Random) -> list:
    """Arrival = event time + a delay below the bound: no event arrives behind the watermark."""
    return sorted(items, key=lambda item: item[0]["timestamp_ms"] + rng.randrange(0, BOUND - 1))


def _ids(result) -> list[str]:
    return sorted(a["alert_id"] for a in result.alerts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=st.integers(0, 5), order=st.integers(0, 2**32), cadence=st.sampled_from([1, 2, 5, 50]))
def test_the_same_events_in_any_order_within_the_bound_give_the_same_alerts(
    tmp_path_factory: Any, scenario: int, order: int, cadence: int
) -> None:
    rules = _rules(tmp_path_factory.mktemp("rules"))
    items = _scenario(scenario)
    reference = run(rules, items, bound_ms=BOUND)
    assert reference.alerts, "the scenario must produce alerts, or the property says nothing"
    shuffled = _shuffled(items, random.Random(order))
    result = run(rules, shuffled, bound_ms=BOUND, watermark_every=cadence)
    assert result.late == []
    assert _ids(result) == _ids(reference)


def test_scenarios_exercise_every_rule_kind(tmp_path: Any) -> None:
    rules = _rules(tmp_path)
    kinds = {a["rule_id"] for s in range(6) for a in run(rules, _scenario(s), bound_ms=BOUND).alerts}
    assert kinds >= {"inject-c2", "create-no-change", "guess-then-login", "prog",
                     "11111111-2222-4333-8444-555555555555"}


def test_beyond_the_bound_order_does_matter_and_goes_to_late(tmp_path: Any) -> None:
    rules = _rules(tmp_path)
    a = event("a", T0, host="h")
    b = event("b", T0 + 5 * MIN, host="h")
    result = run(rules, [(b, [hit(b, "T1071")]), (a, [hit(a, "T1055")])], bound_ms=BOUND)
    assert [x["hit"]["event"]["id"] for x in result.late] == ["a"]
    assert result.late[0]["reason"] == "behind_watermark"
    assert result.late[0]["watermark_ms"] == T0 + 5 * MIN - BOUND - 1
