"""Suppression rules: the schema (errors with file, line and field), the per-hit matching (fields,
entities, asset tags and roles, schedules, expiry, the index), companion verdicts, the analyze step,
the companion SQL text and ``ttpflow rules check``'s warnings. No Flink here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.config import JobConfig
from schemas.suppression import SuppressionRule
from udfs.analyze import COLUMN_NAMES, Analyzer
from udfs.link.inventory import load_inventory
from udfs.rulefile import RuleFileError
from udfs.suppress import load_suppressor
from udfs.suppress import sql as suppress_sql
from udfs.suppress.match import AssetTags, Suppressor
from udfs.suppress.rules import active, load_suppressions

ROOT = Path(__file__).resolve().parents[2]
TUE_0300 = int(datetime(2024, 4, 30, 3, 0, tzinfo=UTC).timestamp() * 1000)  # a Tuesday, 03:00 UTC
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


def rule(**fields: Any) -> SuppressionRule:
    doc = {"kind": "suppression", "id": "r1", "reason": "known good", "owner": "secops", "expires": "2099-01-01",
           **fields}
    return SuppressionRule.model_validate(doc)


def hit(technique: str = "T1055", *, rule_id: str = "event:attck_technique", ts: int = TUE_0300,
        host: str | None = "ws-lab-31", user: str | None = "tester", **event: Any) -> dict[str, Any]:
    ev = {"timestamp_ms": ts, "raw_sha256": "abc", "host": {"name": host} if host else {},
          "user": {"name": user} if user else {}, **event}
    return {"hit_id": f"abc:{rule_id}", "timestamp_ms": ts, "rule_id": rule_id, "techniques": [technique],
            "host": host, "user": user, "event": ev}


def verdict(suppressor: Suppressor, h: dict[str, Any]) -> str | None:
    found = suppressor.check(h, h["event"])
    return None if found is None else f"{found.rule.id}:{found.how}"


def one(match: dict[str, Any] | None = None, **fields: Any) -> Suppressor:
    return Suppressor([rule(match=match or {}, **fields)], clock=lambda: NOW)


# --- the schema ---------------------------------------------------------------------------------

def _pack(tmp_path: Path, text: str, name: str = "a.yaml") -> Path:
    folder = tmp_path / "suppressions"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return tmp_path


GOOD = """kind: suppression
id: ok
reason: known good
owner: secops
expires: 2099-01-01
match:
  techniques: [T1055]
"""


@pytest.mark.parametrize(("text", "line", "field", "says"), [
    (GOOD.replace("expires: 2099-01-01\n", ""), None, "expires", "Field required"),
    (GOOD.replace("2099-01-01", "next year"), 5, "expires", "date"),
    (GOOD.replace("[T1055]", "[T1055, X99]"), 7, "match.techniques", "T1569"),
    (GOOD + "  colour: red\n", 8, "match.colour", "Extra inputs"),
    (GOOD + "schedule:\n  windows:\n    - days: [tue]\n      from: '25:00'\n", 11,
     "schedule.windows.0.from", "HH:MM"),
    (GOOD + "schedule:\n  timezone: Mars/Olympus\n  windows: [{days: [mon]}]\n", 9, "schedule.timezone", "time zone"),
    (GOOD + "  ips: [10.0.0.0/33]\n", 8, "match.ips", "CIDR"),
    (GOOD + "companion:\n  within: 10m\n  match: {}\n", 9, "companion", "at least one condition"),
    (GOOD.replace("match:\n  techniques: [T1055]\n", ""), 1, "(document)", "would take every hit"),
])
def test_a_bad_rule_fails_with_file_line_and_field(tmp_path: Path, text: str, line: int | None, field: str,
                                                   says: str) -> None:
    pack = _pack(tmp_path, text)
    with pytest.raises(RuleFileError) as err:
        load_suppressions(pack)
    location = err.value.location
    assert location is not None and location.path == str(pack / "suppressions" / "a.yaml")
    assert (location.line, location.field) == (line, field) if line else location.field == field
    assert says in err.value.message


def test_a_list_file_places_its_errors_in_the_list_and_ids_are_unique(tmp_path: Path) -> None:
    listed = "suppressions:\n" + "".join(f"    {line}\n" if i else f"  - {line}\n"
                                         for i, line in enumerate(GOOD.replace("2099-01-01", "2099-13-01")
                                                                  .splitlines()))
    with pytest.raises(RuleFileError) as err:
        load_suppressions(_pack(tmp_path, listed))
    assert (err.value.location.line, err.value.location.field) == (6, "suppressions.0.expires")
    _pack(tmp_path, GOOD)
    _pack(tmp_path, GOOD, "b.yaml")
    with pytest.raises(RuleFileError, match="used twice") as err:
        load_suppressions(tmp_path)
    assert err.value.location.path.endswith("b.yaml")


def test_the_bundled_pack_loads_and_takes_nothing_of_the_seed() -> None:
    rules = load_suppressions(ROOT / "rules")
    assert {r.rule.id for r in rules} >= {"vulnerability-scanner-discovery", "patch-wave-service-execution"}
    analyzer = Analyzer(JobConfig())
    assert analyzer.suppressor  # an active bundled rule: the seed goes through the check
    for n, line in enumerate((ROOT / "samples" / "seed.jsonl").read_bytes().splitlines(), 1):
        out = analyzer.analyze("file", "seed.jsonl", -1, n, line)
        assert out.suppressed == []
        assert {row[0] for row in out.rows} <= {"hit", "fact", "conn"}


# --- matching -----------------------------------------------------------------------------------

def test_fields_equals_any_of_and_wildcard_any_case() -> None:
    assert verdict(one({"fields": {"process.name": "PsExec.exe"}}), hit(process={"name": "psexec.EXE"}))
    assert verdict(one({"fields": {"process.name": ["a.exe", "psexec.exe"]}}), hit(process={"name": "PsExec.exe"}))
    wild = one({"fields": {"process.executable": {"wildcard": "c:\\program files\\*\\agent?.exe"}}})
    assert verdict(wild, hit(process={"executable": "C:\\Program Files\\Acme\\agent2.exe"})) == "r1:match"
    assert verdict(wild, hit(process={"executable": "C:\\Temp\\agent2.exe"})) is None
    assert verdict(wild, hit()) is None  # an absent field never matches
    both = one({"fields": {"process.name": {"equals": "a.exe", "wildcard": "b*"}}})
    assert verdict(both, hit(process={"name": "a.exe"})) is None  # several operators: all must hold
    # a list value matches when any element does; a Sigma name resolves to its ECS path
    assert verdict(one({"fields": {"event.category": "process"}}), hit(event={"category": ["network", "process"]}))
    assert verdict(one({"fields": {"Image": "C:\\x.exe"}}), hit(process={"executable": "C:\\X.exe"}))


def test_entities_hosts_users_with_wildcards_and_addresses_by_cidr() -> None:
    assert verdict(one({"hosts": ["WS-LAB-*"]}), hit(host="ws-lab-31"))
    assert verdict(one({"hosts": ["ws-lab-*"]}), hit(host="ws-finance-07")) is None
    assert verdict(one({"hosts": ["ws-lab-31"]}), hit(host="WS-LAB-31.corp.example"))  # canonical name too
    assert verdict(one({"users": ["svc_*"]}), hit(user="CORP\\svc_patch"))
    assert verdict(one({"users": ["svc_*"]}), hit(user="tester")) is None
    nets = one({"ips": ["10.20.50.0/24"]})
    assert verdict(nets, hit(source={"ip": "10.20.50.10"}))
    assert verdict(nets, hit(destination={"ip": "10.20.50.99"}))
    assert verdict(nets, hit(source={"ip": "10.20.51.10"})) is None
    assert verdict(one({"hosts": ["ws-lab-*"], "users": ["admin*"]}), hit(host="ws-lab-1", user="tester")) is None


def test_asset_tags_and_roles_come_from_the_inventory() -> None:
    inventory = ROOT / "rules" / "assets" / "inventory.yaml"
    index, tags = load_inventory(inventory), AssetTags.load(inventory)

    def sup(match: dict[str, Any]) -> Suppressor:
        return Suppressor([rule(match=match)], inventory=index, assets=tags, clock=lambda: NOW)

    assert verdict(sup({"asset_tags": ["Domain Controller"]}), hit(host="SRV-DC-01.corp.example"))
    assert verdict(sup({"asset_tags": ["lab"]}), hit(host="srv-dc-01")) is None
    assert verdict(sup({"asset_roles": ["domain_controller"]}), hit(host="srv-dc-01"))
    assert verdict(sup({"asset_roles": ["domain_controller"]}), hit(host="ws-lab-31")) is None
    assert verdict(sup({"asset_tags": ["lab"]}), hit(host="unknown-host")) is None


def test_techniques_take_sub_techniques_and_rule_ids_narrow() -> None:
    assert verdict(one({"techniques": ["T1569"]}), hit("T1569.002"))
    assert verdict(one({"techniques": ["T1569.002"]}), hit("T1569")) is None
    both = one({"techniques": ["T1569"], "rule_ids": ["map:x"]})
    assert verdict(both, hit("T1569.002", rule_id="map:x"))
    assert verdict(both, hit("T1569.002", rule_id="map:y")) is None
    assert verdict(both, hit("T1055", rule_id="map:x")) is None


def test_a_hit_no_rule_names_costs_one_cached_lookup() -> None:
    suppressor = Suppressor([rule(match={"techniques": ["T1569"]}), rule(id="r2", match={"rule_ids": ["map:x"]})],
                            clock=lambda: NOW)
    h = hit("T1055")
    assert verdict(suppressor, h) is None
    assert suppressor._candidates == {("event:attck_technique", ("T1055",)): ()}
    assert suppressor.candidates(h) == ()


def test_schedule_windows_in_utc_across_midnight_and_in_a_zone() -> None:
    night = {"windows": [{"days": ["mon"], "from": "22:00", "to": "04:00"}]}
    sup = one({"techniques": ["T1055"]}, schedule=night)
    assert verdict(sup, hit(ts=TUE_0300)) == "r1:match"  # Monday 22:00 run, still on Tuesday 03:00
    assert verdict(sup, hit(ts=TUE_0300 + 60 * 60_000)) is None  # 04:00: the end is exclusive
    assert verdict(sup, hit(ts=TUE_0300 - 5 * 60 * 60_000)) == "r1:match"  # Monday 22:00: the start is inclusive
    assert verdict(sup, hit(ts=TUE_0300 - 6 * 60 * 60_000)) is None  # Monday 21:00
    assert verdict(sup, hit(ts=TUE_0300 + 6 * 86_400_000)) is None  # the next Monday 03:00: Sunday has no window
    day = {"windows": [{"days": ["tue"], "from": "02:30", "to": "03:30"}]}
    assert verdict(one({"techniques": ["T1055"]}, schedule=day), hit(ts=TUE_0300))
    # 03:00 UTC is 05:00 in Berlin (summer time): outside 02:30-03:30 there
    berlin = {"timezone": "Europe/Berlin", **day}
    assert verdict(one({"techniques": ["T1055"]}, schedule=berlin), hit(ts=TUE_0300)) is None
    assert verdict(one({"techniques": ["T1055"]}, schedule=berlin), hit(ts=TUE_0300 - 2 * 60 * 60_000))


def test_expired_and_disabled_rules_are_not_applied() -> None:
    rules = [rule(id="old", expires="2020-01-01", match={"techniques": ["T1055"]}),
             rule(id="off", enabled=False, match={"techniques": ["T1055"]})]
    from udfs.suppress.rules import LoadedRule

    loaded = [LoadedRule(r, "x.yaml", 1) for r in rules]
    applied, skipped = active(loaded, today=date(2026, 6, 1))
    assert applied == [] and [r.rule.id for r in skipped] == ["old", "off"]
    assert active(loaded, today=date(2020, 1, 1))[0] == [loaded[0]]  # its last day still counts
    # a rule that expires while the job runs stops applying then (the wall clock, not the event time)
    sup = Suppressor([rule(expires="2026-06-01", match={"techniques": ["T1055"]})], clock=lambda: NOW)
    assert verdict(sup, hit()) == "r1:match"
    sup.clock = lambda: NOW + 86_400
    assert verdict(sup, hit()) is None


def test_a_plain_rule_wins_over_a_companion_rule_and_a_companion_rule_holds_with_its_key() -> None:
    comp = rule(id="comp", match={"techniques": ["T1055"]},
                companion={"within": "10m", "key": "host", "match": {"fields": {"process.name": "deploy.exe"}}})
    plain = rule(id="plain", match={"hosts": ["ws-lab-*"]})
    sup = Suppressor([comp, plain], clock=lambda: NOW)
    assert verdict(sup, hit(host="ws-lab-31")) == "plain:match"
    found = sup.check(hit(host="ws-finance-07"), hit(host="ws-finance-07")["event"])
    assert found is not None and (found.how, found.key) == ("companion", "comp|ws-finance-07")
    assert sup.check(hit(host=None), hit(host=None)["event"]) is None  # keyed on a host it lacks
    deploy = hit(host="WS-FINANCE-07", process={"name": "Deploy.exe"})["event"]
    assert [(r.id, key) for r, key in sup.companions(deploy, [])] == [("comp", "comp|ws-finance-07")]
    assert sup.companions(hit(process={"name": "other.exe"})["event"], []) == []


def test_companion_techniques_read_the_events_hits() -> None:
    comp = rule(match={"techniques": ["T1569"]},
                companion={"within": "10m", "match": {"rule_ids": ["map:deploy"]}})
    sup = Suppressor([comp], clock=lambda: NOW)
    event = hit()["event"]
    assert sup.companions(event, [hit(rule_id="map:deploy")]) and not sup.companions(event, [hit()])


def test_the_suppressed_record_names_the_rule_and_reason_and_carries_the_hit() -> None:
    sup = one({"techniques": ["T1055"]})
    found = sup.check(hit(), hit()["event"])
    assert found is not None
    record = json.loads(sup.record(found, json.dumps({"hit_id": "abc"})))
    assert record == {"suppression_id": "r1", "reason": "known good", "owner": "secops", "expires": "2099-01-01",
                      "how": "match", "hit": {"hit_id": "abc"}}


# --- the analyze step and the companion SQL -----------------------------------------------------

PACK = """suppressions:
  - kind: suppression
    id: lab
    reason: lab hosts inject by design
    owner: red-team
    expires: 2099-12-31
    match: {techniques: [T1055], hosts: [ws-lab-*]}
  - kind: suppression
    id: deploy
    reason: it's a deployment
    owner: ops
    expires: 2099-12-31
    match: {techniques: [T1071]}
    companion: {within: 10m, direction: around, key: host, match: {fields: {process.name: deploy.exe}}}
"""


def test_analyze_takes_suppressed_hits_off_the_rows_and_emits_held_and_companion_rows(tmp_path: Path) -> None:
    analyzer = Analyzer(JobConfig(rules_dir=str(_pack(tmp_path, PACK))))

    def run(**record: Any) -> Any:
        return analyzer.analyze("file", "in", -1, 1, json.dumps({"timestamp": "2024-05-01T10:00:00Z",
                                                                 **record}).encode())

    lab = run(event_id="e1", host="ws-lab-31", attck_technique="T1055")
    assert [r[0] for r in lab.rows if r[0] != "fact"] == [] and json.loads(lab.suppressed[0])["suppression_id"] == "lab"
    c2 = run(event_id="e2", host="ws-fin-1", attck_technique="T1071")
    [held] = [dict(zip(COLUMN_NAMES, r, strict=True)) for r in c2.rows if r[0] != "fact"]
    assert (held["kind"], held["val"], held["rule_id"]) == ("held", "deploy|ws-fin-1", "event:attck_technique")
    assert json.loads(held["signal"])["event"]["id"] == "e2" and c2.suppressed == []
    dep = run(event_id="e3", host="ws-fin-1", process_name="deploy.exe")
    [comp] = [dict(zip(COLUMN_NAMES, r, strict=True)) for r in dep.rows if r[0] == "companion"]
    assert (comp["id"], comp["val"], comp["rule_id"]) == ("e3", "deploy|ws-fin-1", "deploy")
    other = run(event_id="e4", host="ws-fin-2", attck_technique="T1059")
    assert [r[0] for r in other.rows if r[0] != "fact"] == ["hit"]


def test_the_companion_join_sql_applies_each_rules_window() -> None:
    rules = [rule(id="a", companion={"within": "10m", "match": {"hosts": ["x"]}}),
             rule(id="b", companion={"within": "1h", "direction": "around", "match": {"hosts": ["y"]}})]
    query = suppress_sql.join_sql(rules, "analyzed", COLUMN_NAMES)
    assert "LEFT JOIN" in query and "INTERVAL '0 01:00:00.000'" in query  # the widest window bounds the join
    assert "WHEN 'a' THEN 600000 WHEN 'b' THEN 3600000" in query
    assert "WHEN 'a' THEN 0 WHEN 'b' THEN 3600000" in query  # after the hit: only the 'around' rule
    released = suppress_sql.released_sql((*COLUMN_NAMES, "rt"))
    assert released.startswith("SELECT 'hit' AS kind, ts, id, CAST(NULL AS STRING) AS val")
    assert "c_id IS NULL" in released
    assert "'{\"suppression_id\":\"a\"" in suppress_sql.suppressed_sql(rules)


def test_load_suppressor_warns_of_rules_it_does_not_apply(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from udfs import jsonlog

    pack = _pack(tmp_path, GOOD.replace("2099-01-01", "2020-01-01"))
    stream = __import__("io").StringIO()
    jsonlog.configure(stream=stream)
    assert not load_suppressor(pack, announce=True)
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert (line["msg"], line["rule"], line["why"], line["level"]) == (
        "suppression rule not applied", "ok", "expired on 2020-01-01", "warning")


# --- ttpflow rules check ----------------------------------------------------------------------

def test_rules_check_warns_on_expired_and_never_matching_rules(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from jobs.cli import main

    pack = _pack(tmp_path, PACK.replace("2099-12-31", "2020-01-01", 1))
    seed = ROOT / "samples" / "seed.jsonl"
    assert main(["rules", "check", "--rules-dir", str(pack), "--against", str(seed)]) == 0
    out, err = capsys.readouterr()
    assert "suppressions: 2  active: 1  expired: 1" in out
    assert "suppression lab expired on 2020-01-01: not applied" in err
    assert "suppression deploy never matches the given inputs" in err
    # the seed's T1071 hits are taken by the companion rule's own conditions: it is the companion that is missing
    assert "no companion event was seen" in err


# --- Sigma filters: the matches they take are suppressed, not dropped ----------------------------

WHOAMI_RULE = """
title: Whoami run
id: 0b5c4a3e-0000-4000-8000-000000000001
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\\\whoami.exe'
    condition: selection
"""
HELPDESK_FILTER = """
title: Helpdesk tooling
id: 0b5c4a3e-0000-4000-8000-0000000000ff
logsource:
    product: windows
    category: process_creation
filter:
    rules: [0b5c4a3e-0000-4000-8000-000000000001]
    selection:
        ParentImage|endswith: '\\\\helpdesk.exe'
    condition: not selection
"""


def _flat_process(image: str, parent: str, record: int) -> bytes:
    line = next(x for x in (ROOT / "tests" / "fixtures" / "normalize" / "windows_flat.jsonl").read_text().splitlines()
                if '"EventID":1,' in x)
    return json.dumps({**json.loads(line), "Image": image, "ParentImage": parent, "RecordNumber": record}).encode()


def test_a_match_a_sigma_filter_takes_goes_to_suppressed_with_the_filter(tmp_path: Path) -> None:
    from tests.sigma_helpers import engine_from_yaml
    from udfs.detect.detector import Detector

    detector = Detector(matchers=[engine_from_yaml(WHOAMI_RULE, HELPDESK_FILTER)])
    analyzer = Analyzer(JobConfig(rules_dir=str(tmp_path)), detector=detector)
    taken = analyzer.analyze("file", "in", -1, 1, _flat_process("C:\\whoami.exe", "C:\\helpdesk.exe", 1))
    assert [r for r in taken.rows if r[0] == "hit"] == []
    [record] = [json.loads(r) for r in taken.suppressed]
    assert record["how"] == "sigma_filter" and record["suppression_id"] == "0b5c4a3e-0000-4000-8000-0000000000ff"
    assert record["reason"] == "Sigma filter: Helpdesk tooling"
    assert record["hit"]["rule_id"] == "0b5c4a3e-0000-4000-8000-000000000001"
    kept = analyzer.analyze("file", "in", -1, 2, _flat_process("C:\\whoami.exe", "C:\\cmd.exe", 2))
    assert kept.suppressed == [] and [r[4] for r in kept.rows if r[0] == "hit"] == [
        "0b5c4a3e-0000-4000-8000-000000000001"]
    assert detector.filtered({}) == []  # drained per event: the last match took nothing
