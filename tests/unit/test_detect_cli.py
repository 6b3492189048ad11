"""``ttpflow detect``, ``ttpflow rules check`` and ``ttpflow coverage`` on small fixture files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.cli import main
from schemas.hit import TechniqueHit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "detect"
ROOT = Path(__file__).resolve().parents[2]
INPUTS = [str(FIXTURES / n) for n in ("sysmon_evtx.jsonl", "zeek_dns.jsonl", "cloudtrail.json")]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTPFLOW_CACHE_DIR", str(tmp_path / "cache"))


def _hits(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def test_detect_prints_one_valid_hit_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", *INPUTS]) == 0
    hits, err = _hits(capsys)
    sigma = [h for h in hits if h["rule_source"] == "sigma"]
    by_line = {(Path(h["event"]["origin"]["file"]).name, h["event"]["origin"]["line"]): h for h in sigma}
    assert by_line[("sysmon_evtx.jsonl", 1)]["rule_title"] == "PowerShell Started With An Encoded Command"
    assert by_line[("sysmon_evtx.jsonl", 2)]["techniques"] == ["T1055"]
    assert by_line[("sysmon_evtx.jsonl", 3)]["techniques"] == ["T1071.001"]
    assert by_line[("sysmon_evtx.jsonl", 3)]["tactics"] == ["command-and-control"]
    assert ("sysmon_evtx.jsonl", 4) not in by_line  # notepad: nothing
    assert by_line[("zeek_dns.jsonl", 1)]["techniques"] == ["T1071.004"]
    assert ("zeek_dns.jsonl", 2) not in by_line
    assert by_line[("cloudtrail.json", 1)]["techniques"] == ["T1562.008"]
    assert ("cloudtrail.json", 2) not in by_line  # AccessDenied: filtered by the rule
    for hit in hits:
        TechniqueHit.model_validate(hit)
    assert "events: 8 normalized, 0 dead-lettered" in err
    assert "19 rules loaded" in err  # the own pack: rules/sigma and the base rules in rules/correlations


def test_detect_with_extra_rules_and_no_default_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule = tmp_path / "notepad.yml"
    rule.write_text("""
title: Notepad opens a todo list
id: 6b1f6c38-1b49-4b8e-9d5f-6a3c2b1f0e9d
tags: [attack.collection, attack.t1005]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\\notepad.exe'
        CommandLine|contains: 'todo'
    condition: selection
""")
    # inputs after --rules: the trailing input file is told apart from the rule paths
    assert main(["detect", "--no-default-rules", "--rules", str(rule), INPUTS[0]]) == 0
    hits, _ = _hits(capsys)
    sigma = [h for h in hits if h["rule_source"] == "sigma"]
    assert [h["rule_title"] for h in sigma] == ["Notepad opens a todo list"]
    assert sigma[0]["tactics"] == ["collection"]
    assert sigma[0]["matched_fields"] == ["Image", "CommandLine"]


def test_detect_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--rules", str(FIXTURES / "nope.yml"), "--", INPUTS[0]]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["detect", str(FIXTURES / "missing.jsonl")]) == 2


def test_rules_check_reports_file_line_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(FIXTURES / "bad_rules")]) == 1
    out = capsys.readouterr().out
    assert "unsupported: 6 (100.00%)" in out
    assert "unknown_mod.yml:9: field CommandLine: Unknown modifier 'containz'" in out
    assert main(["rules", "check", str(ROOT / "rules" / "sigma")]) == 0
    assert "loaded: 17  unsupported: 0" in capsys.readouterr().out


def test_rules_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--json", str(FIXTURES / "bad_rules" / "bad_re.yml")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["unsupported"] == 1
    assert report["problems"][0]["line"] == 9
    assert report["problems"][0]["field"] == "CommandLine"


def test_coverage_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", *INPUTS]) == 0
    hits_file = tmp_path / "hits.jsonl"
    hits_file.write_text(capsys.readouterr().out)
    layer_file = tmp_path / "layer.json"
    assert main(["coverage", "--observed", str(hits_file), "--out", str(layer_file)]) == 0
    layer = json.loads(layer_file.read_text())
    assert layer["versions"]["layer"] == "4.5"
    assert layer["domain"] == "enterprise-attack"
    entries = {t["techniqueID"]: t for t in layer["techniques"]}
    assert entries["T1055"]["score"] == 2  # two rules of the pack
    assert entries["T1055"]["color"] == "#e4755b"  # covered and observed
    assert entries["T1572"]["color"] == "#8ec0e4"  # covered, not observed
    # The encoded-PowerShell rule and the process-name map on the Sysmon 1 start; not the map on the
    # remote thread and connection events of that powershell.exe (technique maps fire on process starts).
    assert entries["T1059.001"]["metadata"][-1] == {"name": "observed hits", "value": "2"}
    assert all(set(t) >= {"techniqueID", "score", "enabled"} for t in layer["techniques"])
