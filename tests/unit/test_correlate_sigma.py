"""Sigma correlation rules: each type with a match and a near miss, aliases, chains, references, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit, ruleset, run
from udfs.correlate.sigma_load import load_sigma_correlations
from udfs.rulefile import RuleFileError

SPEC = Path(__file__).resolve().parents[3] / "shared" / "sigma" / "specification"
BASE = """
title: {title}
id: {id}
name: {name}
logsource: {{product: windows, service: security}}
detection: {{selection: {{EventID: 1}}, condition: selection}}
"""
IDS = {n: f"00000000-0000-4000-8000-00000000000{i}" for i, n in enumerate("abcdef")}


def rules_file(tmp_path: Path, correlation: dict[str, Any], *more: dict[str, Any], bases: str = "abc") -> Path:
    docs = [yaml.safe_dump(d, sort_keys=False) for d in (correlation, *more)]
    docs += [BASE.format(title=f"rule {n}", id=IDS[n], name=f"rule_{n}") for n in bases]
    path = tmp_path / "mr_test.yml"
    path.write_text("---\n".join(docs))
    return path


def corr(ctype: str, rules: list[str], *, timespan: str = "5m", group_by: list[str] | None = None,
         condition: dict[str, Any] | str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": ctype, "rules": rules, "group-by": group_by or ["ComputerName"],
                            "timespan": timespan}
    if condition is not None:
        body["condition"] = condition
    return {"title": f"{ctype} test", "id": "11111111-2222-4333-8444-555555555555", "correlation": body,
            "level": "high", **extra}


def load(tmp_path: Path, correlation: dict[str, Any], *more: dict[str, Any], bases: str = "abc"):
    return load_sigma_correlations([rules_file(tmp_path, correlation, *more, bases=bases)])


def base_hit(name: str, n: int, ts: int, host: str = "ws-1", **parts: Any) -> tuple[dict, list]:
    ev = event(f"{name}{n}", ts, host=host, **parts)
    return ev, [hit(ev, rule_id=IDS[name], title=f"rule {name}")]


def alerts_of(tmp_path: Path, correlation: dict[str, Any], items: list, *more: dict[str, Any]) -> list[dict]:
    return run(ruleset(*load(tmp_path, correlation, *more)), items).alerts


# -- event_count ------------------------------------------------------------------------------------


def test_event_count_fires_on_the_nth_event_in_any_sliding_window(tmp_path: Path) -> None:
    rule = corr("event_count", ["rule_a"], condition={"gte": 3})
    # 0m, 4m, 8m, 8m30s: no 5-minute window from the first event holds three, but (4m, 8m, 8m30s) does.
    items = [base_hit("a", i, T0 + t) for i, t in enumerate([0, 4 * MIN, 8 * MIN, 8 * MIN + 30_000])]
    alerts = alerts_of(tmp_path, rule, items)
    assert len(alerts) == 1
    assert [e["event_id"] for e in alerts[0]["evidence"]] == ["a1", "a2", "a3"]
    assert alerts[0]["entity"] == "ws-1" and alerts[0]["details"]["value"] == 3


def test_event_count_spread_wider_than_the_timespan_is_no_alert(tmp_path: Path) -> None:
    rule = corr("event_count", ["rule_a"], condition={"gte": 3})
    items = [base_hit("a", i, T0 + t) for i, t in enumerate([0, 3 * MIN, 6 * MIN, 9 * MIN + 1])]
    assert alerts_of(tmp_path, rule, items) == []


def test_event_count_groups_separately(tmp_path: Path) -> None:
    rule = corr("event_count", ["rule_a"], condition={"gte": 2})
    items = [base_hit("a", 0, T0, host="h1"), base_hit("a", 1, T0 + 1000, host="h2")]
    assert alerts_of(tmp_path, rule, items) == []


def test_event_count_upper_bound_is_decided_when_the_window_closes(tmp_path: Path) -> None:
    rule = corr("event_count", ["rule_a"], condition={"lt": 3})
    two = [base_hit("a", i, T0 + i * MIN) for i in range(2)]
    three = [base_hit("a", i, T0 + i * MIN) for i in range(3)]
    alerts = alerts_of(tmp_path, rule, two)
    assert len(alerts) == 1 and alerts[0]["details"]["value"] == 2
    assert alerts_of(tmp_path, rule, three) == []


def test_a_range_condition_holds_both_bounds(tmp_path: Path) -> None:
    rule = corr("event_count", ["rule_a"], condition={"gt": 2, "lte": 4})
    assert len(alerts_of(tmp_path, rule, [base_hit("a", i, T0 + i * 1000) for i in range(3)])) == 1
    assert alerts_of(tmp_path, rule, [base_hit("a", i, T0 + i * 1000) for i in range(5)]) == []


# -- value_count --------------------------------------------------------------------------------------


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    rule = corr("value_count", ["rule_a"], group_by=["SourceIP"], condition={"field": "User", "gte": 3})
    spray = [base_hit("a", i, T0 + i * 1000, src="10.9.9.9", user=u) for i, u in enumerate(["ann", "bob", "cy"])]
    alerts = alerts_of(tmp_path, rule, spray)
    assert [(a["entity"], a["details"]["value"]) for a in alerts] == [("10.9.9.9", 3)]
    repeat = [base_hit("a", i, T0 + i * 1000, src="10.9.9.9", user=u) for i, u in enumerate(["ann", "bob", "ann"])]
    assert alerts_of(tmp_path, rule, repeat) == []


# -- temporal / temporal_ordered ----------------------------------------------------------------------


def test_temporal_needs_every_rule_in_any_order(tmp_path: Path) -> None:
    rule = corr("temporal", ["rule_a", "rule_b", "rule_c"])
    items = [base_hit("c", 0, T0), base_hit("a", 1, T0 + MIN), base_hit("b", 2, T0 + 2 * MIN)]
    alerts = alerts_of(tmp_path, rule, items)
    assert len(alerts) == 1
    assert sorted(e["step"] for e in alerts[0]["evidence"]) == ["rule_a", "rule_b", "rule_c"]
    missing = [base_hit("c", 0, T0), base_hit("a", 1, T0 + MIN), base_hit("a", 2, T0 + 2 * MIN)]
    assert alerts_of(tmp_path, rule, missing) == []
    too_far = [base_hit("c", 0, T0), base_hit("a", 1, T0 + MIN), base_hit("b", 2, T0 + 5 * MIN + 1)]
    assert alerts_of(tmp_path, rule, too_far) == []


def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    rule = corr("temporal_ordered", ["rule_a", "rule_b"])
    assert len(alerts_of(tmp_path, rule, [base_hit("a", 0, T0), base_hit("b", 1, T0 + MIN)])) == 1
    assert alerts_of(tmp_path, rule, [base_hit("b", 0, T0), base_hit("a", 1, T0 + MIN)]) == []


def test_extended_temporal_condition_with_not_is_decided_at_close(tmp_path: Path) -> None:
    rule = corr("temporal", ["rule_a", "rule_b"], condition="rule_a and not rule_b")
    assert len(alerts_of(tmp_path, rule, [base_hit("a", 0, T0)])) == 1
    assert alerts_of(tmp_path, rule, [base_hit("a", 0, T0), base_hit("b", 1, T0 + 4 * MIN)]) == []


# -- value_sum / value_avg / value_percentile ---------------------------------------------------------


def test_value_sum(tmp_path: Path) -> None:
    rule = corr("value_sum", ["rule_a"], group_by=["SourceIP"], timespan="1h",
                condition={"field": "bytes_sent", "gt": 1_000_000})
    big = [base_hit("a", i, T0 + i * MIN, src="10.1.1.1", source={"bytes": 400_000}) for i in range(3)]
    alerts = alerts_of(tmp_path, rule, big)
    assert len(alerts) == 1 and alerts[0]["details"]["value"] == 1_200_000
    small = [base_hit("a", i, T0 + i * MIN, src="10.1.1.1", source={"bytes": 300_000}) for i in range(3)]
    assert alerts_of(tmp_path, rule, small) == []


def test_value_avg_is_decided_over_the_window(tmp_path: Path) -> None:
    rule = corr("value_avg", ["rule_a"], group_by=["SourceIP"], timespan="1h",
                condition={"field": "bytes_sent", "gt": 500})
    high = [base_hit("a", i, T0 + i * MIN, src="10.1.1.1", source={"bytes": b}) for i, b in enumerate([900, 400])]
    alerts = alerts_of(tmp_path, rule, high)
    assert len(alerts) == 1 and alerts[0]["details"]["value"] == 650
    low = [base_hit("a", i, T0 + i * MIN, src="10.1.1.1", source={"bytes": b}) for i, b in enumerate([900, 50])]
    assert alerts_of(tmp_path, rule, low) == []


def test_value_percentile_numeric(tmp_path: Path) -> None:
    rule = corr("value_percentile", ["rule_a"], timespan="1h",
                condition={"field": "bytes_sent", "percentile": 90, "gt": 1000})
    values = [100] * 8 + [5000, 9000]
    items = [base_hit("a", i, T0 + i * 1000, source={"bytes": v}) for i, v in enumerate(values)]
    assert len(alerts_of(tmp_path, rule, items)) == 1  # p90 = 5400
    items = [base_hit("a", i, T0 + i * 1000, source={"bytes": v}) for i, v in enumerate([100] * 9 + [9000])]
    assert alerts_of(tmp_path, rule, items) == []  # p90 = 990


def test_value_percentile_as_the_specification_example_reads_it(tmp_path: Path) -> None:
    # "A computer spawned a process name that makes up 1% or less of its processes in 24h."
    rule = corr("value_percentile", ["rule_a"], timespan="24h", condition={"field": "Image", "lte": 1})
    common = [base_hit("a", i, T0 + i * 1000, process={"executable": "C:\\svchost.exe"}) for i in range(199)]
    rare = base_hit("a", 999, T0 + 500_000, process={"executable": "C:\\Temp\\x.exe"})
    alerts = alerts_of(tmp_path, rule, [*common, rare])
    assert len(alerts) == 1
    assert alerts[0]["details"]["values"] == {"c:\\temp\\x.exe": 0.5}
    assert [e["event_id"] for e in alerts[0]["evidence"]] == ["a999"]
    assert alerts_of(tmp_path, rule, common) == []


# -- aliases, references, chains --------------------------------------------------------------------------


def test_aliases_group_different_fields_of_different_rules(tmp_path: Path) -> None:
    rule = corr("temporal", ["rule_a", "rule_b"], group_by=["internal_ip", "remote_ip"], timespan="10s",
                aliases={"internal_ip": {"rule_a": "destination.ip", "rule_b": "source.ip"},
                         "remote_ip": {"rule_a": "source.ip", "rule_b": "destination.ip"}})
    rule["correlation"]["aliases"] = rule.pop("aliases")
    error = base_hit("a", 0, T0, src="203.0.113.5", dst="10.0.0.8")
    conn = base_hit("b", 1, T0 + 2000, src="10.0.0.8", dst="203.0.113.5")
    alerts = alerts_of(tmp_path, rule, [error, conn])
    assert [a["group"] for a in alerts] == [{"internal_ip": "10.0.0.8", "remote_ip": "203.0.113.5"}]
    other = base_hit("b", 1, T0 + 2000, src="10.0.0.9", dst="203.0.113.5")
    assert alerts_of(tmp_path, rule, [error, other]) == []


def test_rules_are_referenced_by_name_or_id_and_hits_matched_by_id_or_title(tmp_path: Path) -> None:
    rule = corr("temporal", ["rule_a", IDS["b"]])
    [loaded] = load(tmp_path, rule)
    assert [(r.ids, r.titles, r.name) for r in loaded.refs] == [
        ((IDS["a"],), ("rule a",), "rule_a"), ((IDS["b"],), ("rule b",), "rule_b")]
    ev = event("x", T0 + MIN, host="ws-1")
    by_title = (ev, [hit(ev, rule_id="some-other-id", title="rule b")])
    assert len(run(ruleset(loaded), [base_hit("a", 0, T0), by_title]).alerts) == 1


def _chain(generate: bool) -> list[dict[str, Any]]:
    outer = {"title": "failed then success", "id": "aaaaaaaa-0000-4000-8000-000000000001",
             "correlation": {"type": "temporal_ordered", "rules": ["many_failed", "rule_b"],
                             "group-by": ["User"], "timespan": "10m", "generate": generate}, "level": "high"}
    inner = {"title": "many failed", "id": "aaaaaaaa-0000-4000-8000-000000000002", "name": "many_failed",
             "correlation": {"type": "event_count", "rules": ["rule_a"], "group-by": ["User"], "timespan": "10m",
                             "condition": {"gte": 5}}}
    return [outer, inner]


@pytest.mark.parametrize("generate", [False, True])
def test_a_correlation_over_a_correlation(tmp_path: Path, generate: bool) -> None:
    rules = load_sigma_correlations([rules_file(tmp_path, *_chain(generate))])
    assert {r.id: r.stage for r in rules} == {"aaaaaaaa-0000-4000-8000-000000000001": 2,
                                              "aaaaaaaa-0000-4000-8000-000000000002": 1}
    fails = [base_hit("a", i, T0 + i * 10_000, host=f"h{i % 2}", user="Bob") for i in range(5)]
    success = base_hit("b", 9, T0 + 2 * MIN, host="h1", user="bob")
    alerts = run(ruleset(*rules), [*fails, success]).alerts
    outer = [a for a in alerts if a["rule_id"].endswith("1")]
    assert len(outer) == 1 and outer[0]["entity"] == "bob"
    assert [e["event_id"] for e in outer[0]["evidence"]] == ["a0", "a1", "a2", "a3", "a4", "b9"]  # one timeline
    assert len([a for a in alerts if a["rule_id"].endswith("2")]) == (1 if generate else 0)
    assert run(ruleset(*rules), [*fails[:4], success]).alerts == []


def test_spec_example_loads_and_runs() -> None:
    path = SPEC / "correlation-examples-from-spec" / "spec_block_15.yml"
    if not path.exists():
        pytest.skip("../shared/sigma is not here")
    rules = load_sigma_correlations([], [path])
    ids = {"failed": "53ba33fd-3a50-4468-a5ef-c583635cfa92", "ok": "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"}
    items = []
    for i in range(10):
        ev = event(f"f{i}", T0 + i * 5000, host="dc1", user="alice")
        items.append((ev, [hit(ev, rule_id=ids["failed"], title="Single failed login")]))
    ev = event("ok", T0 + 2 * MIN, host="dc1", user="alice")
    items.append((ev, [hit(ev, rule_id=ids["ok"], title="Successful login")]))
    alerts = run(ruleset(*rules), items).alerts
    assert [a["rule_id"] for a in alerts] == ["b180ead8-d58f-40b2-ae54-c8940995b9b6"]


@pytest.mark.parametrize("name", ["event_count", "value_count", "temporal", "temporal_ordered", "value_sum",
                                  "value_avg", "value_percentile"])
def test_every_schema_example_of_the_specification_parses(tmp_path: Path, name: str) -> None:
    path = SPEC / "tests" / "schema" / "correlation" / f"{name}.yml"
    if not path.exists():
        pytest.skip("../shared/sigma is not here")
    doc = yaml.safe_load(path.read_text())
    stubs = [BASE.format(title=r, id=f"00000000-0000-4000-9000-{i:012d}", name=r)
             for i, r in enumerate(doc["correlation"]["rules"]) if "-" not in r]
    (tmp_path / "example.yml").write_text(path.read_text() + "\n---\n" + "---\n".join(stubs))
    [loaded] = load_sigma_correlations([tmp_path])
    assert loaded.type == name and loaded.timespan_ms > 0


# -- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "where", "line_text"),
    [
        (lambda c: c["correlation"].update(timespan="5 minutes"), "field correlation.timespan", "timespan:"),
        (lambda c: c["correlation"].update(type="sometimes"), "field correlation.type", "type:"),
        (lambda c: c["correlation"].update(rules=["rule_a", "nope"]), "field correlation.rules.1: unknown rule 'nope'",
         "- nope"),
        (lambda c: c["correlation"].update(condition={"gte": "many"}), "field correlation.condition.gte", "gte:"),
        (lambda c: c["correlation"].update(type="value_sum"), "field correlation.condition", "condition:"),
    ],
)
def test_bad_correlations_name_file_line_and_field(tmp_path: Path, mutate: Any, where: str, line_text: str) -> None:
    rule = corr("event_count", ["rule_a"], condition={"gte": 3})
    mutate(rule)
    path = rules_file(tmp_path, rule)
    with pytest.raises(RuleFileError) as err:
        load_sigma_correlations([path])
    message = str(err.value)
    assert message.startswith(f"{path}:") and where in message
    line = int(message[len(str(path)) + 1:].split(":", 1)[0])
    assert line_text in path.read_text().splitlines()[line - 1]


def test_chains_deeper_than_two_are_refused(tmp_path: Path) -> None:
    outer, inner = _chain(False)
    top = {"title": "top", "id": "aaaaaaaa-0000-4000-8000-000000000003",
           "correlation": {"type": "event_count", "rules": [outer["id"]], "group-by": ["User"], "timespan": "1h",
                           "condition": {"gte": 2}}}
    with pytest.raises(RuleFileError, match="deeper than two"):
        load_sigma_correlations([rules_file(tmp_path, top, outer, inner)])


def test_temporal_ordered_with_a_partial_count_is_refused(tmp_path: Path) -> None:
    rule = corr("temporal_ordered", ["rule_a", "rule_b", "rule_c"], condition={"gte": 2})
    with pytest.raises(RuleFileError, match="every rule, in order"):
        load(tmp_path, rule)


def test_a_hit_without_the_group_by_field_is_counted_not_grouped(tmp_path: Path) -> None:
    from udfs.correlate.engine import Correlation

    [rule] = load(tmp_path, corr("event_count", ["rule_a"], group_by=["User"], condition={"gte": 1}))
    correlation = Correlation(ruleset(rule))
    ev = event("x", T0, host="h")  # no user
    assert correlation.route(hit(ev, rule_id=IDS["a"])) == []
    assert correlation.counters.ungrouped == 1
