"""Every Sigma value modifier, value type and condition form: one matching and one non-matching event each.

Each case is a rule's ``detection`` block on Sysmon process_creation events; the engine's answer is
also checked against evaluating every rule without the prefilter (``naive_rule_ids``).
"""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.sigma_helpers import engine_from_yaml, naive_rule_ids, rule_ids, windows_event

RULE = """
title: case {name}
id: {rule_id}
status: test
level: medium
tags: [attack.execution, attack.t1059]
logsource:
    product: windows
    category: process_creation
detection:
{detection}
"""


def _rule(name: str, detection: str) -> tuple[str, str]:
    rule_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ttpflow-test/{name}"))
    body = "\n".join("    " + line for line in detection.strip("\n").splitlines())
    return rule_id, RULE.format(name=name, rule_id=rule_id, detection=body)


def _b64_variants(data: bytes) -> list[str]:
    """The data base64-encoded at each of the three offsets inside a longer base64 text."""
    return [base64.b64encode(prefix + data + b"!!").decode() for prefix in (b"", b"x", b"xy")]


UTF16LE_WHOAMI = base64.b64encode("IEX whoami /all".encode("utf-16le")).decode()
UTF16BE_WHOAMI = base64.b64encode("IEX whoami /all".encode("utf-16be")).decode()
# (LE and BE encodings of one text are one byte apart, so base64offset of one matches the other.)
UTF8_WHOAMI = base64.b64encode(b"IEX whoami /all").decode()

# name, detection, fields of a matching event, fields of a non-matching event
CASES: list[tuple[str, str, dict[str, object], dict[str, object]]] = [
    (
        "equals_ignores_case",
        """
selection:
    Image: 'C:\\Windows\\System32\\cmd.exe'
condition: selection
""",
        {"Image": "c:\\windows\\SYSTEM32\\CMD.EXE"},
        {"Image": "C:\\Windows\\System32\\cmd.exe.bak"},
    ),
    (
        "contains",
        """
selection:
    CommandLine|contains: 'whoami'
condition: selection
""",
        {"CommandLine": "cmd /c WhoAmI /all"},
        {"CommandLine": "who ami"},
    ),
    (
        "startswith",
        """
selection:
    CommandLine|startswith: 'net user'
condition: selection
""",
        {"CommandLine": "NET USER admin /add"},
        {"CommandLine": "cmd /c net user"},
    ),
    (
        "endswith",
        """
selection:
    Image|endswith: '\\rundll32.exe'
condition: selection
""",
        {"Image": "C:\\Windows\\System32\\RUNDLL32.EXE"},
        {"Image": "C:\\Windows\\System32\\rundll32.exe.mui"},
    ),
    (
        "all",
        """
selection:
    CommandLine|contains|all:
        - 'vssadmin'
        - 'delete'
        - 'shadows'
condition: selection
""",
        {"CommandLine": "vssadmin.exe Delete Shadows /all /quiet"},
        {"CommandLine": "vssadmin list shadows"},
    ),
    (
        "list_is_or",
        """
selection:
    Image|endswith:
        - '\\mshta.exe'
        - '\\wscript.exe'
condition: selection
""",
        {"Image": "C:\\x\\wscript.exe"},
        {"Image": "C:\\x\\cscript.exe"},
    ),
    (
        "many_suffixes_and_prefixes",
        "\n".join(
            [
                "selection_suffix:",
                "    Image|endswith:",
                *[f"        - '\\\\tool{i}.exe'" for i in range(30)],
                "selection_prefix:",
                "    CurrentDirectory|startswith:",
                *[f"        - 'C:\\\\dir{i}\\\\'" for i in range(30)],
                "condition: all of selection_*",
            ]
        ),
        {"Image": "D:\\x\\TOOL17.exe", "CurrentDirectory": "c:\\dir29\\sub"},
        {"Image": "D:\\x\\tool17.exe.bak", "CurrentDirectory": "C:\\dir29\\sub"},
    ),
    (
        "wildcards_in_value",
        """
selection:
    Image: 'C:\\\\*\\cmd.ex?'  # '\\\\*' is a backslash, then the wildcard; '\\*' would be a literal star
condition: selection
""",
        {"Image": "C:\\Windows\\System32\\cmd.exe"},
        {"Image": "D:\\Windows\\cmd.exe"},
    ),
    (
        "escaped_wildcard_is_literal",
        """
selection:
    CommandLine: 'echo \\*'
condition: selection
""",
        {"CommandLine": "echo *"},
        {"CommandLine": "echo x"},
    ),
    (
        "re_is_case_sensitive",
        """
selection:
    CommandLine|re: '-[a-z]{3}\\d'
condition: selection
""",
        {"CommandLine": "tool -abc1"},
        {"CommandLine": "tool -ABC1"},
    ),
    (
        "re_i",
        """
selection:
    CommandLine|re|i: '-[a-z]{3}\\d'
condition: selection
""",
        {"CommandLine": "tool -ABC1"},
        {"CommandLine": "tool -AB1"},
    ),
    (
        "re_m",
        """
selection:
    CommandLine|re|m: '^second$'
condition: selection
""",
        {"CommandLine": "first\nsecond\nthird"},
        {"CommandLine": "first second third"},
    ),
    (
        "re_s",
        """
selection:
    CommandLine|re|s: 'begin.end'
condition: selection
""",
        {"CommandLine": "begin\nend"},
        {"CommandLine": "begin\n\nend"},
    ),
    (
        "re_without_s_dot_stops_at_newline",
        """
selection:
    CommandLine|re: 'begin.end'
condition: selection
""",
        {"CommandLine": "beginXend"},
        {"CommandLine": "begin\nend"},
    ),
    (
        "re_lookahead_falls_back_to_python",
        """
selection:
    CommandLine|re: 'pass(?=word)'
condition: selection
""",
        {"CommandLine": "a password"},
        {"CommandLine": "a passphrase"},
    ),
    (
        "cidr_v4",
        """
selection:
    CommandLine|cidr: '10.0.0.0/8'
condition: selection
""",
        {"CommandLine": "10.20.30.40"},
        {"CommandLine": "11.0.0.1"},
    ),
    (
        "cidr_v6",
        """
selection:
    CommandLine|cidr: 'fd00::/8'
condition: selection
""",
        {"CommandLine": "fd12:3456::1"},
        {"CommandLine": "2001:db8::1"},
    ),
    (
        "base64",
        """
selection:
    CommandLine|base64|contains: 'whoami'
condition: selection
""",
        {"CommandLine": "powershell -e d2hvYW1p"},
        {"CommandLine": "powershell -e d2hvYW1q"},
    ),
    (
        "base64offset_1",
        """
selection:
    CommandLine|base64offset|contains: 'http://'
condition: selection
""",
        {"CommandLine": _b64_variants(b"http://")[1]},
        {"CommandLine": _b64_variants(b"https:/")[1]},
    ),
    (
        "base64offset_2",
        """
selection:
    CommandLine|base64offset|contains: 'http://'
condition: selection
""",
        {"CommandLine": _b64_variants(b"http://")[2]},
        {"CommandLine": _b64_variants(b"ftp://x")[2]},
    ),
    (
        "wide_base64offset",
        """
selection:
    CommandLine|wide|base64offset|contains: 'whoami'
condition: selection
""",
        {"CommandLine": f"powershell -enc {UTF16LE_WHOAMI}"},
        {"CommandLine": f"powershell -enc {UTF8_WHOAMI}"},
    ),
    (
        "utf16le_base64offset",
        """
selection:
    CommandLine|utf16le|base64offset|contains: 'whoami'
condition: selection
""",
        {"CommandLine": f"powershell -enc {UTF16LE_WHOAMI}"},
        {"CommandLine": "powershell -enc d2hvYW1p"},
    ),
    (
        "utf16be_base64offset",
        """
selection:
    CommandLine|utf16be|base64offset|contains: 'whoami'
condition: selection
""",
        {"CommandLine": f"x {UTF16BE_WHOAMI}"},
        {"CommandLine": f"x {UTF8_WHOAMI}"},
    ),
    (
        "utf16_with_bom",
        """
selection:
    CommandLine|utf16|base64|contains: 'ab'
condition: selection
""",
        {"CommandLine": base64.b64encode(b"\xff\xfea\x00b\x00").decode()},
        {"CommandLine": base64.b64encode(b"a\x00b\x00").decode()},
    ),
    (
        "windash",
        """
selection:
    CommandLine|windash|contains: ' -enc '
condition: selection
""",
        {"CommandLine": "powershell \u2013enc AAAA"},
        {"CommandLine": "powershell _enc AAAA"},
    ),  # en dash
    (
        "windash_slash",
        """
selection:
    CommandLine|windash|contains: ' -enc '
condition: selection
""",
        {"CommandLine": "powershell /enc AAAA"},
        {"CommandLine": "powershell enc AAAA"},
    ),
    (
        "exists_true",
        """
selection:
    ParentImage|exists: true
condition: selection
""",
        {"ParentImage": "C:\\x.exe"},
        {"Image": "C:\\x.exe"},
    ),
    (
        "exists_false",
        """
selection:
    ParentImage|exists: false
condition: selection
""",
        {"Image": "C:\\x.exe"},
        {"ParentImage": "C:\\x.exe"},
    ),
    (
        "fieldref",
        """
selection:
    ParentImage|fieldref: Image
condition: selection
""",
        {"Image": "C:\\a.exe", "ParentImage": "c:\\A.EXE"},
        {"Image": "C:\\a.exe", "ParentImage": "C:\\b.exe"},
    ),
    (
        "fieldref_endswith",
        """
selection:
    CommandLine|fieldref|endswith: OriginalFileName
condition: selection
""",
        {"CommandLine": "run payload.dll", "OriginalFileName": "payload.dll"},
        {"CommandLine": "payload.dll run", "OriginalFileName": "payload.dll"},
    ),
    (
        "lt",
        """
selection:
    TerminalSessionId|lt: 2
condition: selection
""",
        {"TerminalSessionId": 1},
        {"TerminalSessionId": 2},
    ),
    (
        "lte_on_numeric_text",
        """
selection:
    TerminalSessionId|lte: 2
condition: selection
""",
        {"TerminalSessionId": "2"},
        {"TerminalSessionId": "3"},
    ),
    (
        "gt",
        """
selection:
    TerminalSessionId|gt: 2
condition: selection
""",
        {"TerminalSessionId": 3},
        {"TerminalSessionId": "two"},
    ),
    (
        "gte",
        """
selection:
    TerminalSessionId|gte: 2
condition: selection
""",
        {"TerminalSessionId": 2.0},
        {"TerminalSessionId": 1.5},
    ),
    (
        "neq",
        """
selection:
    Image|endswith: '\\cmd.exe'
    User|neq: 'NT AUTHORITY\\SYSTEM'
condition: selection
""",
        {"Image": "C:\\cmd.exe", "User": "CORP\\alice"},
        {"Image": "C:\\cmd.exe", "User": "nt authority\\system"},
    ),
    (
        "cased",
        """
selection:
    CommandLine|contains|cased: 'Invoke-Mimikatz'
condition: selection
""",
        {"CommandLine": "Invoke-Mimikatz -Dump"},
        {"CommandLine": "invoke-mimikatz -dump"},
    ),
    (
        "null_matches_missing_or_json_null",
        """
selection:
    Image|endswith: '\\x.exe'
    OriginalFileName: null
condition: selection
""",
        {"Image": "C:\\x.exe", "OriginalFileName": None},
        {"Image": "C:\\x.exe", "OriginalFileName": "x.exe"},
    ),
    (
        "empty_string",
        """
selection:
    Image|endswith: '\\x.exe'
    Description: ''
condition: selection
""",
        {"Image": "C:\\x.exe", "Description": ""},
        {"Image": "C:\\x.exe", "Description": "Tool"},
    ),
    (
        "number_matches_int_and_text",
        """
selection:
    LogonId: 999
condition: selection
""",
        {"LogonId": "999"},
        {"LogonId": "9990"},
    ),
    (
        "boolean",
        """
selection:
    Initiated: true
condition: selection
""",
        {"Initiated": "true"},
        {"Initiated": False},
    ),
    (
        "list_valued_field_any_element",
        """
selection:
    Hashes|contains: 'IMPHASH=ABC'
condition: selection
""",
        {"Hashes": ["SHA256=00", "IMPHASH=ABCDEF"]},
        {"Hashes": ["SHA256=00"]},
    ),
    (
        "keywords",
        """
keywords:
    - 'sekurlsa::logonpasswords'
    - 'lsadump::sam'
condition: keywords
""",
        {"CommandLine": 'mimikatz.exe "SEKURLSA::LogonPasswords" exit'},
        {"CommandLine": "mimikatz.exe coffee"},
    ),
    (
        "keywords_all",
        """
keywords:
    '|all':
        - 'privilege::'
        - 'debug'
condition: keywords
""",
        {"CommandLine": "privilege::x", "ParentCommandLine": "debug"},
        {"CommandLine": "privilege::x"},
    ),
    (
        "hour_of_timestamp",
        """
selection:
    UtcTime|hour: 3
condition: selection
""",
        {"UtcTime": "2024-05-01 03:10:00.000"},
        {"UtcTime": "2024-05-01 04:10:00.000"},
    ),
    (
        "missing_field_is_absent_not_an_error",
        """
selection:
    NoSuchField|contains: 'x'
condition: selection
""",
        {"NoSuchField": "xyz"},
        {"Image": "C:\\x.exe"},
    ),
    # --- conditions ---
    (
        "and_or_not_parentheses",
        """
a:
    Image|endswith: '\\a.exe'
b:
    Image|endswith: '\\b.exe'
c:
    CommandLine|contains: 'safe'
condition: (a or b) and not c
""",
        {"Image": "C:\\b.exe", "CommandLine": "run"},
        {"Image": "C:\\b.exe", "CommandLine": "run safe"},
    ),
    (
        "one_of_wildcard",
        """
selection_a:
    Image|endswith: '\\a.exe'
selection_b:
    Image|endswith: '\\b.exe'
other:
    Image|endswith: '\\c.exe'
condition: 1 of selection_*
""",
        {"Image": "C:\\b.exe"},
        {"Image": "C:\\c.exe"},
    ),
    (
        "all_of_wildcard",
        """
selection_img:
    Image|endswith: '\\a.exe'
selection_cli:
    CommandLine|contains: 'go'
condition: all of selection_*
""",
        {"Image": "C:\\a.exe", "CommandLine": "go"},
        {"Image": "C:\\a.exe", "CommandLine": "stop"},
    ),
    (
        "one_of_them",
        """
first:
    Image|endswith: '\\a.exe'
second:
    CommandLine|contains: 'go'
condition: 1 of them
""",
        {"CommandLine": "go"},
        {"CommandLine": "stop"},
    ),
    (
        "all_of_them",
        """
first:
    Image|endswith: '\\a.exe'
second:
    CommandLine|contains: 'go'
condition: all of them
""",
        {"Image": "C:\\a.exe", "CommandLine": "go"},
        {"CommandLine": "go"},
    ),
    (
        "any_of_is_one_of",
        """
sel_a:
    Image|endswith: '\\a.exe'
sel_b:
    Image|endswith: '\\b.exe'
condition: any of sel_*
""",
        {"Image": "C:\\a.exe"},
        {"Image": "C:\\z.exe"},
    ),
    (
        "not_one_of_filters",
        """
selection:
    Image|endswith: '\\a.exe'
filter_main_path:
    Image|startswith: 'C:\\Program Files\\'
filter_optional_cli:
    CommandLine|contains: '--update'
condition: selection and not 1 of filter_*
""",
        {"Image": "C:\\Temp\\a.exe", "CommandLine": "x"},
        {"Image": "C:\\Temp\\a.exe", "CommandLine": "--update"},
    ),
    (
        "list_of_maps_is_or",
        """
selection:
    - Image|endswith: '\\a.exe'
    - CommandLine|contains: 'magic'
condition: selection
""",
        {"CommandLine": "some magic"},
        {"CommandLine": "no trick"},
    ),
    (
        "condition_list_is_or",
        """
first:
    Image|endswith: '\\a.exe'
second:
    CommandLine|contains: 'go'
condition:
    - first
    - second
""",
        {"CommandLine": "go"},
        {"CommandLine": "stop"},
    ),
    (
        "not_only",
        """
selection:
    Image|endswith: '\\a.exe'
filter:
    CommandLine: null
condition: selection and not filter
""",
        {"Image": "C:\\a.exe", "CommandLine": "x"},
        {"Image": "C:\\a.exe"},
    ),
]


@pytest.fixture(scope="module")
def engine():
    return engine_from_yaml(*(_rule(name, det)[1] for name, det, _, _ in CASES))


@pytest.mark.parametrize(("name", "detection", "positive", "negative"), CASES, ids=[c[0] for c in CASES])
def test_case(engine, name: str, detection: str, positive: dict[str, object], negative: dict[str, object]) -> None:
    rule_id = _rule(name, detection)[0]
    hit_event, miss_event = windows_event(1, **positive), windows_event(1, **negative)
    assert rule_id in rule_ids(engine, hit_event), f"{name}: should match {positive}"
    assert rule_id not in rule_ids(engine, miss_event), f"{name}: should not match {negative}"
    for event in (hit_event, miss_event):
        assert sorted(rule_ids(engine, event)) == sorted(naive_rule_ids(engine, event))


def test_python_regex_fallback_is_reported(engine) -> None:
    fallbacks = engine.report.regex_fallbacks
    assert [p.message for p in fallbacks if "(?=word)" in p.message], fallbacks


def test_expand_with_placeholders() -> None:
    rule_id, text = _rule(
        "expand",
        """
selection:
    Image|endswith: '\\net.exe'
filter_admins:
    User|expand: '%admins%'
condition: selection and not filter_admins
""",
    )
    configured = engine_from_yaml(text, placeholders={"admins": ["CORP\\admin1", "CORP\\svc_*"]})
    assert rule_ids(configured, windows_event(1, Image="C:\\net.exe", User="CORP\\alice")) == [rule_id]
    assert rule_ids(configured, windows_event(1, Image="C:\\net.exe", User="corp\\svc_backup")) == []
    unconfigured = engine_from_yaml(text)
    assert unconfigured.report.loaded == 0
    assert "%admins%" in unconfigured.report.disabled[0].message


def test_hit_carries_rule_metadata_and_matched_fields(engine) -> None:
    hits = list(engine.match(windows_event(1, Image="C:\\Temp\\a.exe", CommandLine="x")))
    hit = next(h for h in hits if h["rule_title"] == "case not_one_of_filters")
    assert hit["level"] == "medium"
    assert hit["status"] == "test"
    assert hit["techniques"] == ["T1059"]
    assert hit["tactics"] == ["execution"]
    assert hit["matched_fields"] == ["Image"]


def test_rule_for_another_logsource_never_runs() -> None:
    _, text = _rule(
        "routed",
        """
selection:
    Image|endswith: '\\a.exe'
condition: selection
""",
    )
    engine = engine_from_yaml(text)
    assert rule_ids(engine, windows_event(3, Image="C:\\a.exe")) == []  # network_connection
    assert rule_ids(engine, windows_event(1, channel="Security", Image="C:\\a.exe")) == []
