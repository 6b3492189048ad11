"""Sigma filters (global filters) as exclusions, and rule files that fail with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sigma_helpers import engine_from_yaml, rule_ids, windows_event
from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.loader import load_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "detect"
ROOT = Path(__file__).resolve().parents[2]

RULES = """
title: Whoami run
id: 0b5c4a3e-0000-4000-8000-000000000001
name: whoami_run
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
---
title: Net run
id: 0b5c4a3e-0000-4000-8000-000000000002
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\net.exe'
    condition: selection
"""


def _filter(rules: str, logsource: str = "category: process_creation") -> str:
    return f"""
title: Helpdesk tooling
id: 0b5c4a3e-0000-4000-8000-0000000000ff
logsource:
    product: windows
    {logsource}
filter:
    rules: {rules}
    selection:
        ParentImage|endswith: '\\helpdesk.exe'
    condition: not selection
"""


def _ids(engine: SigmaEngine, image: str, parent: str) -> list[str]:
    return rule_ids(engine, windows_event(1, Image=image, ParentImage=parent))


WHOAMI, NET = "0b5c4a3e-0000-4000-8000-000000000001", "0b5c4a3e-0000-4000-8000-000000000002"


def test_filter_by_rule_id_excludes_only_that_rule() -> None:
    engine = engine_from_yaml(RULES, _filter(f"[{WHOAMI}]"))
    assert _ids(engine, "C:\\whoami.exe", "C:\\helpdesk.exe") == []
    assert _ids(engine, "C:\\whoami.exe", "C:\\cmd.exe") == [WHOAMI]
    assert _ids(engine, "C:\\net.exe", "C:\\helpdesk.exe") == [NET]


def test_filter_by_rule_name() -> None:
    engine = engine_from_yaml(RULES, _filter("[whoami_run]"))
    assert _ids(engine, "C:\\whoami.exe", "C:\\helpdesk.exe") == []


def test_filter_for_any_rule_of_its_logsource() -> None:
    engine = engine_from_yaml(RULES, _filter("any"))
    assert _ids(engine, "C:\\whoami.exe", "C:\\helpdesk.exe") == []
    assert _ids(engine, "C:\\net.exe", "C:\\helpdesk.exe") == []
    assert _ids(engine, "C:\\net.exe", "C:\\cmd.exe") == [NET]


def test_filter_for_another_logsource_does_not_apply() -> None:
    engine = engine_from_yaml(RULES, _filter("any", "category: network_connection"))
    assert _ids(engine, "C:\\whoami.exe", "C:\\helpdesk.exe") == [WHOAMI]
    assert [w.reason for w in engine.report.warnings] == ["filter_unused"]


def test_own_pack_filter_excludes_monitoring_agents() -> None:
    engine = SigmaEngine(load_rules([ROOT / "rules" / "sigma"], cache_dir=False))
    fields = {
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "Initiated": "true",
        "DestinationIp": "203.0.113.7",
        "DestinationPort": 443,
    }
    rule = "d4b7d2ea-cccb-4b63-bb15-19585a830310"
    assert rule in rule_ids(engine, windows_event(3, **fields))
    agent = {**fields, "Image": "C:\\Program Files\\Microsoft Monitoring Agent\\Agent\\powershell.exe"}
    assert rule not in rule_ids(engine, windows_event(3, **agent))
    private = {**fields, "DestinationIp": "10.1.2.3"}
    assert rule not in rule_ids(engine, windows_event(3, **private))


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("unknown_mod.yml", 9, "CommandLine", "Unknown modifier 'containz'"),
        ("bad_cond.yml", 9, None, "'filter' not defined"),
        ("bad_re.yml", 9, "CommandLine", "Regular expression 'a(b' is invalid"),
        ("bad_cidr.yml", 10, "DestinationIp", "Invalid CIDR"),
        ("bad_yaml.yml", 5, None, "not valid YAML"),
        ("re_placeholder.yml", 9, "CommandLine", "regex placeholders (pattern) are not supported"),
    ],
)
def test_bad_rule_names_file_line_and_field(name: str, line: int, field: str | None, words: str) -> None:
    engine = SigmaEngine(load_rules([FIXTURES / "bad_rules" / name], cache_dir=False))
    assert engine.report.loaded == 0
    (problem,) = engine.report.unsupported
    assert problem.path.endswith(name)
    assert problem.line == line
    assert problem.field == field
    assert words in problem.message
    assert str(problem).startswith(f"{problem.path}:{line}: ")
