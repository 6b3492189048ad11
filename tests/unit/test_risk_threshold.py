"""risk_threshold rules: the schema and its load errors (file, line, field), the SQL the job runs,
the reference runtime's semantics (sum within the window, one alert per crossing, then re-armed),
and the JVM match row -> the same draft the reference makes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from schemas.risk import RiskThresholdRule
from udfs.correlate.drafts import MAX_EVIDENCE, evidence_of
from udfs.correlate.engine import Correlation, RuleSet
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.risk import RiskRuntime, step_name
from udfs.correlate.rules import load_ruleset
from udfs.correlate.runtime import Groups
from udfs.correlate.sql.common import SEPARATORS
from udfs.correlate.sql.drafts import MatchDrafts
from udfs.correlate.sql.risk import risk_sql
from udfs.link.inventory import InventoryIndex
from udfs.rulefile import RuleFileError

ROOT = Path(__file__).resolve().parents[2]
RULE = """kind: risk_threshold
id: test-risk
title: Risk on one host
entity: host
window: 1h
threshold: 100
min_signals: 2
signals:
  min_label: low
  tactics: [execution, defense-evasion]
"""
T0 = 1_714_557_600_000
MIN = 60_000


def _rule(**over: Any) -> RiskThresholdRule:
    doc: dict[str, Any] = {"kind": "risk_threshold", "id": "r", "title": "t", "window": "1h", "threshold": 100}
    return RiskThresholdRule.model_validate({**doc, **over})


def _hit(n: int, ts: int, score: int, host: str = "ws-1", label: str = "medium",
         tactics: tuple[str, ...] = ("execution",)) -> dict[str, Any]:
    return {"hit_id": f"{n:04d}:edr", "timestamp_ms": ts, "rule_id": "edr", "rule_title": "EDR", "rule_source": "edr",
            "level": "medium", "techniques": ["T1059"], "tactics": list(tactics), "host": host, "user": None,
            "event": {"id": f"e{n}", "raw_sha256": f"{n:04d}", "source_format": "plain_json"},
            "risk": {"score": score, "label": label}}


def _feed(rule: RiskThresholdRule, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reference runtime over ``hits`` (already in event-time order), with time passing as it does."""
    runtime, drafts = RiskRuntime(rule), []
    by_group: dict[tuple[str, ...], dict[str, Any]] = {}
    for hit in hits:
        for group, facts in runtime.route(hit, Groups(hit)):
            parts = by_group.setdefault(tuple(group.values()), {})
            runtime.on_time(parts, hit["timestamp_ms"], group)
            rec = {"ts": hit["timestamp_ms"], "hit_id": hit["hit_id"], "evidence": [evidence_of(hit)], "facts": facts}
            drafts += runtime.on_record(parts, rec, group)
    return drafts


# -- schema and loading -----------------------------------------------------------------------------

def test_the_bundled_rule_loads_and_runs_in_the_jvm() -> None:
    plan = CorrelationPlan(load_ruleset(ROOT / "rules"))
    assert [r.id for r in plan.jvm_risks] == ["ttpflow-risk-host-24h"]
    path = next(p for p in plan.explain() if p.rule_id == "ttpflow-risk-host-24h")
    assert (path.kind, path.path) == ("risk_threshold", "jvm")
    assert plan.longest_window_ms() >= 24 * 3_600_000


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "risk").mkdir()
    return tmp_path


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (RULE.replace("threshold: 100", "threshold: 0"), 6, "threshold", "greater than or equal to 1"),
    (RULE.replace("window: 1h", "window: soon"), 5, "window", "a duration like"),
    (RULE.replace("entity: host", "entity: planet"), 4, "entity", "'host'"),
    (RULE.replace("  min_label: low", "  min_label: severe"), 9, "signals.min_label", "'informational'"),
    (RULE.replace("defense-evasion", "teleportation"), 10, "signals.tactics.1", "unknown tactic"),
    (RULE.replace("min_signals: 2", "min_signal: 2"), 7, "min_signal", "Extra inputs"),
    (RULE.replace("kind: risk_threshold", "kind: sequence"), 1, "kind", "expected risk_threshold"),
])
def test_a_bad_rule_fails_at_load_with_file_line_and_field(rules_dir: Path, text: str, line: int, field: str,
                                                          words: str) -> None:
    path = rules_dir / "risk" / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as err:
        load_ruleset(rules_dir)
    loc = err.value.location
    assert (loc.path, loc.line, loc.field) == (str(path), line, field)
    assert words in str(err.value)


def test_a_risk_rule_may_not_reuse_another_rules_id(rules_dir: Path) -> None:
    (rules_dir / "sequences").mkdir()
    shutil.copy(ROOT / "rules" / "sequences" / "injection_then_c2.yaml", rules_dir / "sequences")
    (rules_dir / "risk" / "dup.yaml").write_text(RULE.replace("id: test-risk", "id: ttpflow-seq-injection-then-c2"))
    with pytest.raises(RuleFileError, match="already defined") as err:
        load_ruleset(rules_dir)
    assert err.value.location.line == 2 and err.value.location.field == "id"


def test_entities_group_by_the_entity_the_hits_carry() -> None:
    assert [_rule(entity=e).group_by for e in ("host", "user", "entity", "ip", "cloud_principal")] == \
        ["host", "user", "entity", "source.ip", "cloud.principal"]


# -- SQL --------------------------------------------------------------------------------------------

def test_the_sql_sums_risk_within_the_window_and_skips_past_the_alert() -> None:
    sql = risk_sql(_rule(min_signals=3, window="90s"))
    assert "PATTERN (S*? L) WITHIN INTERVAL '0 00:01:31.000' DAY TO SECOND(3)" in sql
    assert "DEFINE L AS COALESCE(SUM(S.risk), 0) + L.risk >= 100 AND COUNT(S.id) + 1 >= 3 AND " \
           "L.ts - COALESCE(FIRST(S.ts), L.ts) <= 90000" in sql
    assert "AFTER MATCH SKIP PAST LAST ROW" in sql and "ORDER BY rt, id" in sql
    assert "ARRAY_CONTAINS(tags, 'r') AND host_key IS NOT NULL" in sql
    assert sql.startswith("SELECT 'r' AS rule_id, gkey, gkind, links FROM")


def test_the_sql_has_no_count_condition_for_one_signal_and_groups_fields_from_keys() -> None:
    sql = risk_sql(_rule(entity="ip"))
    assert "COUNT(S.id) + 1 >=" not in sql
    assert "keys['r@group'] AS gkey" in sql


# -- which signals count ------------------------------------------------------------------------------

def test_the_plan_tags_only_signals_the_rule_counts(rules_dir: Path) -> None:
    (rules_dir / "risk" / "r.yaml").write_text(RULE)
    plan = CorrelationPlan(load_ruleset(rules_dir))
    hit = _hit(1, T0, 40, label="low")
    assert plan.tags(hit, hit["risk"])[0] == ["test-risk"]
    assert plan.tags(hit, {"score": 12, "label": "informational"})[0] == []  # below min_label
    assert plan.tags(hit, None)[0] == []  # no risk: nothing to sum
    other = _hit(2, T0, 40, tactics=("discovery",))
    assert plan.tags(other, other["risk"])[0] == []  # no tactic the rule counts


def test_an_ip_rule_keys_its_group_in_python() -> None:
    plan = CorrelationPlan(RuleSet(risks=[_rule(entity="ip")]))
    hit = _hit(1, T0, 40)
    hit["event"]["source"] = {"ip": "10.1.2.3"}
    assert plan.tags(hit, hit["risk"]) == (["r"], {"r@group": "10.1.2.3", "~risk": "40"})


# -- the reference runtime ------------------------------------------------------------------------------

def test_low_signals_within_the_window_raise_exactly_one_alert() -> None:
    rule = _rule(min_signals=2)
    hits = [_hit(i, T0 + i * 10 * MIN, 30) for i in range(6)]  # 30 each, 10 minutes apart
    drafts = _feed(rule, hits)
    assert len(drafts) == 1  # 4 x 30 = 120 crosses; the next two add up to 60 only
    draft = drafts[0]
    assert [e["event_id"] for e in draft["evidence"]] == ["e0", "e1", "e2", "e3"]
    assert [e["step"] for e in draft["evidence"]] == [step_name(30)] * 4
    assert draft["rule_kind"] == "risk_threshold" and draft["group"] == {"host": "ws-1"}
    assert draft["details"] == {"risk": 120, "threshold": 100, "window_ms": 3_600_000, "min_signals": 2,
                                "signals": 4, "signals_not_shown": 0}


def test_the_same_signals_spread_beyond_the_window_raise_none() -> None:
    hits = [_hit(i, T0 + i * 25 * MIN, 30) for i in range(8)]  # at most 3 in any hour: 90
    assert _feed(_rule(), hits) == []


def test_the_window_bound_is_inclusive_and_old_signals_drop_out() -> None:
    hits = [_hit(0, T0, 50), _hit(1, T0 + 3_600_000, 50)]
    assert len(_feed(_rule(), hits)) == 1  # exactly one window apart still counts
    hits = [_hit(0, T0, 50), _hit(1, T0 + 3_600_001, 50)]
    assert _feed(_rule(), hits) == []


def test_it_re_arms_after_an_alert_with_a_whole_new_threshold() -> None:
    hits = [_hit(i, T0 + i * MIN, 60) for i in range(5)]  # 60 each, a minute apart
    drafts = _feed(_rule(), hits)
    assert [[e["event_id"] for e in d["evidence"]] for d in drafts] == [["e0", "e1"], ["e2", "e3"]]


def test_min_signals_holds_back_one_heavy_signal_and_min_label_filters() -> None:
    assert _feed(_rule(min_signals=2), [_hit(0, T0, 100)]) == []
    assert len(_feed(_rule(), [_hit(0, T0, 100)])) == 1
    rule = _rule(signals={"min_label": "high"})
    assert _feed(rule, [_hit(i, T0 + i, 50, label="medium") for i in range(3)]) == []


def test_groups_are_apart() -> None:
    hits = [_hit(i, T0 + i * MIN, 40, host=f"ws-{i % 2}") for i in range(4)]
    assert _feed(_rule(), hits) == []  # 80 on each host


def test_evidence_is_capped_with_a_count_of_the_rest() -> None:
    hits = [_hit(i, T0 + i * 1000, 1) for i in range(50)]
    [draft] = _feed(_rule(threshold=50), hits)
    assert len(draft["evidence"]) == MAX_EVIDENCE
    assert draft["details"]["signals"] == 50 and draft["details"]["signals_not_shown"] == 50 - MAX_EVIDENCE
    assert draft["evidence"][0]["event_id"] == "e0" and draft["evidence"][-1]["event_id"] == "e49"


def test_the_correlation_engine_routes_and_alerts_through_the_index() -> None:
    correlation = Correlation(RuleSet(risks=[_rule(signals={"tactics": ["execution"]})]))
    assert correlation.could_use(_hit(0, T0, 40))
    assert not correlation.could_use(_hit(0, T0, 40, tactics=("discovery",)))
    [rec] = correlation.route(_hit(0, T0, 40))
    assert rec["facts"] == {"risk": 40} and rec["group"] == {"host": "ws-1"}


# -- the JVM match row -> the reference's draft -----------------------------------------------------------

def _bundle(hit: dict[str, Any]) -> str:
    ev = evidence_of(hit)
    host = ev.pop("host")
    ev.pop("user")
    ev["crit"] = ev.pop("asset_criticality")
    import orjson

    return SEPARATORS["unit"].join([orjson.dumps(ev).decode(), host, "", host])


def test_a_match_row_gives_the_reference_draft() -> None:
    rule = _rule(min_signals=2)
    hits = [_hit(i, T0 + i * 10 * MIN, 30) for i in range(4)]
    [expected] = _feed(rule, hits)
    links = "120" + SEPARATORS["unit"] + "4" + SEPARATORS["file"] + SEPARATORS["record"].join(
        step_name(30) + SEPARATORS["group"] + _bundle(h) for h in hits)
    plan = CorrelationPlan(RuleSet(risks=[rule]))
    draft = MatchDrafts(plan.specs(), InventoryIndex()).draft(("r", "ws-1", "host", links))
    assert draft == expected


def test_rules_check_explain_shows_the_rule_its_path_and_its_sql() -> None:
    from jobs.commands.rules import explain_text

    text = explain_text(None, [])
    head = "ttpflow-risk-host-24h  [risk_threshold]  jvm: MATCH_RECOGNIZE"
    assert head in text
    after = text.split(head, 1)[1]
    assert "    SELECT 'ttpflow-risk-host-24h' AS rule_id, gkey, gkind, links FROM (" in after
    assert "PATTERN (S*? L) WITHIN INTERVAL '1 00:00:01.000' DAY TO SECOND(3)" in after
