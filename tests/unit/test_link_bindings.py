"""Entity linking: binding facts from events, the learner, the binding table, and the linker."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.unit.test_correlate_fixtures import MIN, T0, event, hit, ruleset, run, sequence, zeek_conn
from udfs.link.canonical import bindable_ip, canonical_host, canonical_user
from udfs.link.facts import binding_facts
from udfs.link.inventory import load_inventory
from udfs.link.learn import Learner
from udfs.link.resolve import Linker
from udfs.link.table import BindingTable
from udfs.rulefile import RuleFileError

BUNDLED_INVENTORY = Path(__file__).resolve().parents[2] / "rules" / "assets" / "inventory.yaml"
HOUR = 60 * MIN


def _facts(ev):
    return [(f["subject"], f["value"], f["via"]) for f in binding_facts(ev)]


def sysmon_network(ts: int, host: str, src: str, dst: str, direction: str):
    return event("s3", ts, host=host, fmt="windows_evtx_json", src=src, dst=dst,
                 event={"code": "3", "category": ["network"], "type": ["connection", "start"]},
                 network={"direction": direction})


def logon(ts: int, host: str, user: str, code: str = "4624", logon_type: str = "Interactive",
          ip: str | None = None, workstation: str | None = None):
    ev = event(f"l{code}{ts}", ts, host=host, user=user, fmt="windows_evtx_json",
               event={"code": code, "category": ["authentication"], "outcome": "success"},
               authentication={"logon_type": logon_type, "session_id": "0x3e7"})
    if ip or workstation:
        ev["source"] = {k: v for k, v in (("ip", ip), ("domain", workstation)) if v}
    return ev


# -- facts ------------------------------------------------------------------------------------------


def test_a_host_reporting_its_own_address_binds_it() -> None:
    ev = event("a", T0, host="WS-1.corp.example", host_ips=("10.0.0.7", "127.0.0.1", "fe80::1"))
    assert _facts(ev) == [("ip:10.0.0.7", "ws-1", "host.ip")]


def test_sysmon_network_binds_the_local_side_only() -> None:
    assert _facts(sysmon_network(T0, "ws-1", "10.0.0.7", "8.8.8.8", "egress")) == [
        ("ip:10.0.0.7", "ws-1", "endpoint-network")]
    assert _facts(sysmon_network(T0, "srv-1", "10.0.0.7", "10.0.0.9", "ingress")) == [
        ("ip:10.0.0.9", "srv-1", "endpoint-network")]


def test_a_windows_logon_binds_the_client_address_and_opens_a_session() -> None:
    ev = logon(T0, "SRV-DC-01", "CORP\\j.doe", logon_type="RemoteInteractive", ip="10.0.0.7", workstation="WS-1")
    assert sorted(_facts(ev)) == [("ip:10.0.0.7", "ws-1", "logon-workstation"),
                                  ("session:j.doe", "srv-dc-01", "logon-session")]
    network_logon = logon(T0, "srv-dc-01", "j.doe", logon_type="Network")
    assert _facts(network_logon) == []  # file-share logons do not put a person at a host
    assert _facts(logon(T0, "ws-1", "j.doe", code="4634")) == [("session:j.doe", None, "logoff")]
    assert _facts(logon(T0, "ws-1", "SYSTEM")) == []


def test_dhcp_leases_bind_addresses() -> None:
    zeek = event("d", T0, fmt="zeek", original={"_path": "dhcp", "assigned_addr": "10.0.0.8", "host_name": "WS-2"})
    suricata = event("d", T0, fmt="suricata",
                     original={"event_type": "dhcp", "dhcp": {"assigned_ip": "10.0.0.9", "hostname": "ws-3"}})
    assert _facts(zeek) == [("ip:10.0.0.8", "ws-2", "dhcp")]
    assert _facts(suricata) == [("ip:10.0.0.9", "ws-3", "dhcp")]


def test_cloud_events_bind_principals_to_people() -> None:
    person = {"name": "j.doe@corp.example", "id": "00uABC", "email": "j.doe@corp.example"}
    okta = event("o", T0, fmt="okta", user=person,
                 cloud={"provider": "okta", "principal": "j.doe@corp.example"})
    assert _facts(okta) == [("principal:00uabc", "j.doe", "identity-event")]
    arn = "arn:aws:sts::111122223333:assumed-role/Admin/botocore-session-1"
    assume = event("ar", T0, fmt="cloudtrail", user={"name": "jdoe"},
                   cloud={"provider": "aws", "principal": "arn:aws:iam::111122223333:user/jdoe"},
                   original={"eventName": "AssumeRole", "responseElements": {"assumedRoleUser": {"arn": arn}}})
    assert _facts(assume) == [(f"principal:{arn.lower()}", "jdoe", "aws-assumerole")]


def test_network_sensor_events_teach_nothing_about_their_sensor() -> None:
    assert _facts(zeek_conn("c", T0, "10.0.0.7", "1.2.3.4")) == []


# -- canonical spellings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "host"), [("WS-1.corp.example", "ws-1"), ("CORP\\WS-1", "ws-1"),
                                           ("10.0.0.7", None), ("-", None), ("", None)])
def test_canonical_host(raw: str, host: str | None) -> None:
    assert canonical_host(raw) == host


@pytest.mark.parametrize(("raw", "user"), [("CORP\\J.Doe", "j.doe"), ("j.doe@corp.example", "j.doe"),
                                           ("arn:aws:sts::1:assumed-role/Admin/j.doe@corp.example", "j.doe"),
                                           ("arn:aws:iam::1:user/jdoe", "jdoe")])
def test_canonical_user(raw: str, user: str) -> None:
    assert canonical_user(raw) == user


def test_unbindable_addresses() -> None:
    assert [bindable_ip(x) for x in ("127.0.0.1", "0.0.0.0", "224.0.0.1", "169.254.1.1", "::ffff:10.0.0.7", "x")] == [
        None, None, None, None, "10.0.0.7", None]


# -- learner and table ----------------------------------------------------------------------------------


def test_the_learner_sends_every_fact_once_in_event_time_order() -> None:
    """Every fact is a version (as in the job's versioned SQL table): max age counts from the latest."""
    learner = Learner(max_age_ms=HOUR)
    facts = [{"subject": "ip:1", "value": "a", "ts": T0 + t * MIN, "via": "x"} for t in (0, 1, 1, 16)]
    facts.append({"subject": "ip:1", "value": "b", "ts": T0 + 18 * MIN, "via": "x"})
    last, points = learner.learn(None, list(reversed(facts)))  # any order in: event-time order out
    assert [(p["ts"] - T0) // MIN for p in points] == [0, 1, 16, 18]  # the repeated fact at 1 is one point
    assert last == {"value": "b", "ts": T0 + 18 * MIN}


def test_a_logoff_ends_only_the_current_session() -> None:
    learner = Learner(max_age_ms=HOUR)
    last = {"value": "ws-2", "ts": T0}
    _, points = learner.learn(last, [{"subject": "session:u", "value": None, "ts": T0 + 1, "via": "logoff",
                                      "if_value": "ws-1"}])
    assert points == []
    _, points = learner.learn(last, [{"subject": "session:u", "value": None, "ts": T0 + 1, "via": "logoff",
                                      "if_value": "ws-2"}])
    assert [p["value"] for p in points] == [None]


def test_table_answers_at_event_time_and_forgets_after_max_age() -> None:
    table = BindingTable(max_age_ms=HOUR)
    table.insert("ip:1", T0, "a", "dhcp")
    table.insert("ip:1", T0 + 30 * MIN, "b", "dhcp")
    assert table.lookup("ip:1", T0 - 1) is None
    assert table.lookup("ip:1", T0 + 29 * MIN) == ("a", "dhcp", T0)
    assert table.lookup("ip:1", T0 + 30 * MIN)[0] == "b"
    assert table.lookup("ip:1", T0 + 90 * MIN) == ("b", "dhcp", T0 + 30 * MIN)
    assert table.lookup("ip:1", T0 + 90 * MIN + 1) is None


def test_replicas_agree_whatever_order_points_arrive_in_and_pruning_changes_no_answer() -> None:
    rng = random.Random(5)
    points = [(f"ip:{rng.randrange(4)}", T0 + rng.randrange(0, 10 * HOUR), rng.choice(["a", "b", "c", None]))
              for _ in range(300)]
    tables = []
    for seed in range(3):
        order = list(points)
        random.Random(seed).shuffle(order)
        table = BindingTable(max_age_ms=HOUR)
        for subject, ts, value in order:
            table.insert(subject, ts, value, "x")
        tables.append(table)
    probes = [(f"ip:{i}", T0 + t * MIN) for i in range(4) for t in range(0, 11 * 60, 7)]
    answers = [[t.lookup(s, ts) for s, ts in probes] for t in tables]
    assert answers[0] == answers[1] == answers[2]
    cutoff = T0 + 5 * HOUR
    list(tables[0].sweep(cutoff))
    assert [tables[0].lookup(s, ts) for s, ts in probes if ts >= cutoff] == [
        tables[1].lookup(s, ts) for s, ts in probes if ts >= cutoff]


# -- the linker -----------------------------------------------------------------------------------------


def test_an_address_only_event_takes_the_host_bound_at_its_time() -> None:
    table = BindingTable(max_age_ms=HOUR)
    table.insert("ip:10.0.0.7", T0, "ws-1", "dhcp")
    table.insert("ip:10.0.0.7", T0 + 10 * MIN, "ws-2", "dhcp")
    early = Linker().link(hit(zeek_conn("c1", T0 + 5 * MIN, "10.0.0.7", "1.2.3.4"), "T1071"), table)["link"]
    late = Linker().link(hit(zeek_conn("c2", T0 + 15 * MIN, "10.0.0.7", "1.2.3.4"), "T1071"), table)["link"]
    assert (early["host"], late["host"]) == ("ws-1", "ws-2")
    assert early["via"] == [{"entity": "host", "field": "source.ip", "value": "10.0.0.7", "by": "dhcp",
                             "since_ms": T0}]


def test_the_destination_links_when_the_source_is_unknown() -> None:
    table = BindingTable(max_age_ms=HOUR)
    table.insert("ip:10.0.0.9", T0, "srv-1", "host.ip")
    link = Linker().link(hit(zeek_conn("c", T0 + MIN, "203.0.113.8", "10.0.0.9"), "T1190"), table)["link"]
    assert (link["host"], link["source_host"], link["destination_host"]) == ("srv-1", None, "srv-1")


def test_the_inventory_names_hosts_users_and_criticality() -> None:
    inventory = load_inventory(BUNDLED_INVENTORY)
    table = BindingTable(max_age_ms=HOUR)
    conn = Linker(inventory).link(hit(zeek_conn("c", T0, "10.20.0.5", "1.2.3.4"), "T1071"), table)["link"]
    assert (conn["host"], conn["criticality"], conn["via"][0]["by"]) == ("srv-dc-01", 10, "inventory")
    ev = event("e", T0, host="WS-FINANCE-07.corp.example", user="CORP\\j.doe")
    endpoint = Linker(inventory).link(hit(ev, "T1059"), table)["link"]
    assert (endpoint["host"], endpoint["user"], endpoint["criticality"]) == ("ws-finance-07", "j.doe", 8)
    okta = event("o", T0, fmt="okta", user={"name": "someone", "id": "00u1a2b3c4d5e6f7g8h9"})
    assert Linker(inventory).link(hit(okta, "T1078"), table)["link"]["user"] == "j.doe"


def test_a_bad_inventory_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("kind: asset_inventory\nassets:\n  - name: a\n    ips: [10.0.0.300]\n")
    with pytest.raises(RuleFileError, match=rf"{path}:4: field assets.0.ips"):
        load_inventory(path)


def test_service_accounts_are_scoped_to_their_host() -> None:
    ev = event("e", T0, host="ws-1", user="SYSTEM")
    assert Linker().link(hit(ev, "T1059"), BindingTable(HOUR))["link"]["user"] == "system@ws-1"


def test_one_timeline_across_endpoint_network_identity_and_cloud() -> None:
    """A host-grouped sequence whose steps come from four kinds of source, all tied to ws-1."""
    arn = "arn:aws:sts::111122223333:assumed-role/Admin/botocore-session-1"
    seen = event("boot", T0, host="ws-1", host_ips=("10.0.0.7",))  # ws-1 has 10.0.0.7
    session = logon(T0 + MIN, "ws-1", "CORP\\j.doe")  # j.doe sits at ws-1
    assume = event("assume", T0 + 2 * MIN, fmt="cloudtrail", user={"name": "j.doe"},
                   cloud={"provider": "aws", "principal": "arn:aws:iam::111122223333:user/j.doe"},
                   original={"eventName": "AssumeRole", "responseElements": {"assumedRoleUser": {"arn": arn}}})
    okta = event("okta", T0 + 3 * MIN, fmt="okta", src="10.0.0.7",
                 user={"name": "j.doe@corp.example"}, cloud={"provider": "okta", "principal": "j.doe@corp.example"})
    shell = event("shell", T0 + 4 * MIN, host="ws-1", user="j.doe")
    conn = zeek_conn("conn", T0 + 5 * MIN, "10.0.0.7", "185.220.101.34")
    s3 = event("s3", T0 + 6 * MIN, fmt="cloudtrail", src="52.95.110.1", user={"name": "botocore-session-1"},
               cloud={"provider": "aws", "principal": arn, "api_call": "GetObject"})
    rule = sequence([{"techniques": ["T1078"]}, {"techniques": ["T1059"]}, {"techniques": ["T1071"]},
                     {"techniques": ["T1530"]}], within="30m")
    items = [(seen, []), (session, []), (assume, []), (okta, [hit(okta, "T1078")]), (shell, [hit(shell, "T1059")]),
             (conn, [hit(conn, "T1071")]), (s3, [hit(s3, "T1530")])]
    [alert] = run(ruleset(rule), items).alerts
    assert alert["entity"] == "ws-1"
    assert [(e["source_format"], e["host"], e["user"]) for e in alert["evidence"]] == [
        ("okta", "ws-1", "j.doe"), ("plain_json", "ws-1", "j.doe"), ("zeek", "ws-1", None),
        ("cloudtrail", "ws-1", "j.doe")]
    assert [e["timestamp_ms"] for e in alert["evidence"]] == sorted(e["timestamp_ms"] for e in alert["evidence"])
