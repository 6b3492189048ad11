"""The whole SigmaHQ tree loads, and real SigmaHQ rules fire on events shaped like our normalizers' output.

Reads ../shared/sigma (skipped when absent); the tree is parsed once per test session (and cached
on disk by content hash, see ``udfs.detect.sigma.loader``). Events are built by hand from the rule's text, one
positive and one negative per rule, for each Windows category and for Zeek, CloudTrail, Okta,
Azure and Linux.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sigma_helpers import (
    naive_rule_ids,
    record,
    rule_ids,
    security_event,
    sigmahq_engine,
    sigmahq_rule_dirs,
    windows_event,
)
from udfs.detect.sigma.routing import SYSMON_CHANNEL

pytestmark = [pytest.mark.shared, pytest.mark.skipif(not sigmahq_rule_dirs(), reason="../shared/sigma absent")]

PS_CHANNEL = "Microsoft-Windows-PowerShell/Operational"


def test_whole_tree_loads_with_under_one_percent_unsupported() -> None:
    report = sigmahq_engine().report
    print(
        f"\nSigmaHQ: {report.files} files, {report.loaded} loaded, {len(report.unsupported)} unsupported, "
        f"{len(report.disabled)} waiting for placeholders; parse {report.parse_seconds:.2f}s "
        f"({report.cached_files} cached), compile {report.compile_seconds:.2f}s"
    )
    assert report.files >= 3000
    assert report.total == report.files
    assert len(report.unsupported) / report.total < 0.01, report.unsupported_by_reason()
    # Rules that need %placeholder% values are loaded, and wait for configuration: all of them are
    # SigmaHQ's "placeholder" rules or use |expand.
    assert all("placeholder" in p.message for p in report.disabled)
    assert report.loaded + len(report.disabled) + len(report.unsupported) == report.files


def test_every_attack_tag_is_kept_or_mapped() -> None:
    engine = sigmahq_engine()
    for rule in engine.rules:
        tagged = [
            t.split(".", 1)[1].upper() for t in rule.ir.tags if t.lower().startswith("attack.t") and t[8:9].isdigit()
        ]
        assert list(rule.attack.tagged_techniques) == list(dict.fromkeys(tagged)), rule.ir.path
        assert len(rule.attack.techniques) == len(rule.attack.tagged_techniques) or len(
            set(rule.attack.techniques)
        ) < len(rule.attack.tagged_techniques)
    unknown = [w for w in engine.report.warnings if w.reason == "attack_tag"]
    assert len(unknown) < 10  # v19 ids newer than the migration table are kept, with a warning


def _zeek(kind: str, **fields: Any) -> dict[str, Any]:
    original = {"ts": 1714557600.0, "uid": "C1", "_path": kind, **fields}
    return record(
        "zeek",
        original,
        event={"kind": "event", "dataset": f"zeek.{kind}", "category": ["network"], "type": ["connection"]},
    )


def _linux_process(image: str, command_line: str) -> dict[str, Any]:
    """Linux process start from auditd: vendor keys in original, the process in ECS fields."""
    return record(
        "auditd",
        {"type": "EXECVE", "argc": "2", "a0": image.rsplit("/", 1)[-1]},
        event={"kind": "event", "category": ["process"], "type": ["start"]},
        process={"executable": image, "command_line": command_line, "name": image.rsplit("/", 1)[-1]},
    )


# rule id, rule (for the reader), event that matches, event that does not
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "67f113fa-e23d-4271-befa-30113b3e08b1",
        "process_creation: mshta running javascript",
        windows_event(1, Image="C:\\Windows\\System32\\mshta.exe", CommandLine="mshta javascript:a=GetObject()"),
        windows_event(1, Image="C:\\Windows\\System32\\mshta.exe", CommandLine="mshta C:\\app.hta"),
    ),
    (
        "67f113fa-e23d-4271-befa-30113b3e08b1",
        "process_creation from Security 4688 (windows-audit renames)",
        security_event(4688, NewProcessName="C:\\Windows\\System32\\mshta.exe", CommandLine="mshta javascript:x"),
        security_event(4688, NewProcessName="C:\\Windows\\System32\\cmd.exe", CommandLine="cmd javascript:x"),
    ),
    (
        "a66bc059-c370-472c-a0d7-f8fd1bf9d583",
        "network_connection: Equation Editor",
        windows_event(
            3,
            Image="C:\\Program Files\\Common Files\\Microsoft Shared\\EQUATION\\EQNEDT32.EXE",
            DestinationIp="198.51.100.4",
            DestinationPort=80,
            Initiated="true",
        ),
        windows_event(3, Image="C:\\Program Files\\Microsoft Office\\WINWORD.EXE", DestinationIp="198.51.100.4"),
    ),
    (
        "092af964-4233-4373-b4ba-d86ea2890288",
        "registry_set: AeDebug debugger set to a DLL",
        windows_event(
            13,
            EventType="SetValue",
            TargetObject="HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\AeDebug\\Debugger",
            Details="C:\\Users\\Public\\evil.dll",
        ),
        windows_event(
            13,
            EventType="SetValue",
            TargetObject="HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\AeDebug\\Debugger",
            Details='"C:\\WINDOWS\\system32\\vsjitdebugger.exe" -p %ld -e %ld -j 0x%p',
        ),
    ),
    (
        "fed85bf9-e075-4280-9159-fbe8a023d6fa",
        "file_event: Advanced IP Scanner unpacked",
        windows_event(
            11,
            Image="C:\\Users\\bob\\Downloads\\ipscan.exe",
            TargetFilename="C:\\Users\\bob\\AppData\\Local\\Temp\\Advanced IP Scanner 2\\help.chm",
        ),
        windows_event(11, Image="C:\\x.exe", TargetFilename="C:\\Users\\bob\\AppData\\Local\\Temp\\other.tmp"),
    ),
    (
        "fb4e2211-6d08-426b-8e6f-0d4a161e3b1d",
        "image_load: clfs.sys loaded from a public folder",
        windows_event(7, Image="C:\\Users\\Public\\x.exe", ImageLoaded="C:\\Windows\\System32\\drivers\\CLFS.SYS"),
        windows_event(
            7, Image="C:\\Windows\\System32\\svchost.exe", ImageLoaded="C:\\Windows\\System32\\drivers\\clfs.sys"
        ),
    ),
    (
        "fc028194-969d-4122-8abe-0470d5b8f12f",
        "ps_script: copying browser login data",
        windows_event(
            4104,
            channel=PS_CHANNEL,
            ScriptBlockText='Copy-Item "$env:LOCALAPPDATA\\Google\\Chrome\\User '
            'Data\\Default\\Login Data" -Destination C:\\Temp\\ld',
        ),
        windows_event(4104, channel=PS_CHANNEL, ScriptBlockText="Copy-Item C:\\a.txt -Destination C:\\b.txt"),
    ),
    (
        "d99b79d2-0a6f-4f46-ad8b-260b6e17f982",
        "security: audit log cleared",
        security_event(1102, Provider_Name="Microsoft-Windows-Eventlog", SubjectUserName="admmig"),
        security_event(1100, Provider_Name="Microsoft-Windows-Eventlog"),
    ),
    (
        "705072a5-bb6f-4ced-95b6-ecfa6602090b",
        "zeek http: WebDAV PUT to a public host",
        _zeek("http", method="PUT", user_agent="Microsoft-WebDAV-MiniRedir/10.0", **{"id.resp_h": "203.0.113.80"}),
        _zeek("http", method="PUT", user_agent="Microsoft-WebDAV-MiniRedir/10.0", **{"id.resp_h": "10.1.1.1"}),
    ),
    (
        "bf74135c-18e8-4a72-a926-0e4f47888c19",
        "zeek dns: mining pool",
        _zeek("dns", query="pool.supportxmr.com", qtype_name="A"),
        _zeek("dns", query="www.example.com", qtype_name="A"),
    ),
    (
        "a136ac98-b2bc-4189-a14d-f0d0388e57a7",
        "cloudtrail: bucket versioning suspended (match inside a JSON object)",
        record(
            "cloudtrail",
            {
                "eventSource": "s3.amazonaws.com",
                "eventName": "PutBucketVersioning",
                "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}},
            },
        ),
        record(
            "cloudtrail",
            {
                "eventSource": "s3.amazonaws.com",
                "eventName": "PutBucketVersioning",
                "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "On"}},
            },
        ),
    ),
    (
        "50e068d7-1e6b-4054-87e5-0a592c40c7e0",
        "okta: MFA factor deactivated",
        record("okta", {"eventType": "user.mfa.factor.deactivate", "actor": {"alternateId": "help@corp.example"}}),
        record("okta", {"eventType": "user.session.start", "actor": {"alternateId": "alice@corp.example"}}),
    ),
    (
        "2b7d6fc0-71ac-4cf7-8ed1-b5788ee5257a",
        "azure signinlogs: account lockout (ResultType vs resultType)",
        record("entra_id", {"category": "SignInLogs", "resultType": "50053", "properties": {"status": {}}}),
        record("entra_id", {"category": "SignInLogs", "resultType": "0"}),
    ),
    (
        "248649b7-d64f-46f0-9fb2-a52774166fb5",
        "azure signinlogs: device code (properties.message)",
        record("entra_id", {"category": "SignInLogs", "properties": {"message": "Device Code"}}),
        record("entra_id", {"category": "AuditLogs", "properties": {"message": "Device Code"}}),
    ),
    (
        "bb382fd5-b454-47ea-a264-1828e4c766d6",
        "linux process_creation (auditd, ECS fields): apt pre-invoke shell",
        _linux_process("/usr/bin/apt-get", "apt-get update -o APT::Update::Pre-Invoke::=/bin/sh"),
        _linux_process("/usr/bin/apt-get", "apt-get update"),
    ),
    (
        "bb382fd5-b454-47ea-a264-1828e4c766d6",
        "linux process_creation (Sysmon for Linux)",
        windows_event(
            1,
            channel="Linux-Sysmon/Operational",
            Image="/usr/bin/apt",
            CommandLine="apt update -o APT::Update::Pre-Invoke::=sh",
        ),
        windows_event(1, channel="Linux-Sysmon/Operational", Image="/usr/bin/apt", CommandLine="apt update"),
    ),
    (
        "e497a24e-9345-4a62-9803-b06d7d7cb132",
        "linux auditd: ASLR disabled (SYSCALL vs syscall)",
        record("auditd", {"type": "SYSCALL", "syscall": "personality", "a0": "40000", "exe": "/usr/bin/setarch"}),
        record("auditd", {"type": "SYSCALL", "syscall": "personality", "a0": "0"}),
    ),
]


@pytest.mark.parametrize(("rule_id", "what", "positive", "negative"), CASES, ids=[c[1] for c in CASES])
def test_real_rule(rule_id: str, what: str, positive: dict[str, Any], negative: dict[str, Any]) -> None:
    engine = sigmahq_engine()
    assert any(r.ir.rule_id == rule_id for r in engine.rules), f"rule {rule_id} not loaded"
    assert rule_id in rule_ids(engine, positive), what
    assert rule_id not in rule_ids(engine, negative), what
    for event in (positive, negative):
        assert sorted(rule_ids(engine, event)) == sorted(naive_rule_ids(engine, event))


def test_hits_resolve_v19_tags_to_catalog_ids() -> None:
    engine = sigmahq_engine()
    v19_rules = [r for r in engine.rules if "T1685" in r.attack.tagged_techniques]
    assert v19_rules
    for rule in v19_rules:
        assert "T1562.001" in rule.attack.techniques
        assert "T1685" not in rule.attack.techniques


def test_windows_event_without_sysmon_channel_only_sees_product_rules() -> None:
    engine = sigmahq_engine()
    event = windows_event(
        1,
        channel="Microsoft-Windows-Unknown/Operational",
        Image="C:\\Windows\\System32\\mshta.exe",
        CommandLine="mshta javascript:x",
    )
    assert "67f113fa-e23d-4271-befa-30113b3e08b1" not in rule_ids(engine, event)
    assert SYSMON_CHANNEL.startswith("microsoft-windows-sysmon")
