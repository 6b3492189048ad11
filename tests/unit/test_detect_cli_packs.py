"""``ttpflow detect``: which packs load (--no-default-rules, --rules-dir), deduplication, the summary;
and --no-default-rules in the job's options."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.options import NO_RULES_DIR, add_kafka_job_args, config_from_args
from udfs.analyze import Analyzer
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.rules import load_ruleset

ROOT = Path(__file__).resolve().parents[2]
SYSMON = str(ROOT / "tests" / "fixtures" / "detect" / "sysmon_evtx.jsonl")
NOTEPAD_RULE = """title: Notepad opens a todo list
id: 6b1f6c38-1b49-4b8e-9d5f-6a3c2b1f0e9d
{extra}tags: [attack.collection, attack.t1005]
logsource: {{product: windows, category: process_creation}}
detection:
    selection:
        Image|endswith: '\\notepad.exe'
    condition: selection
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTPFLOW_CACHE_DIR", str(tmp_path / "cache"))


def _plain(tmp_path: Path) -> str:
    """Process starts as an EDR's plain JSON: whoami x3 and cmd x2 on ws-1 within ten minutes, whoami
    on ws-2, and whoami on ws-1 an hour later."""
    rows = [("ws-1", "12:00:00", "whoami.exe"), ("ws-1", "12:01:00", "whoami.exe"), ("ws-1", "12:02:00", "cmd.exe"),
            ("ws-1", "12:09:59", "whoami.exe"), ("ws-1", "12:03:00", "cmd.exe"), ("ws-2", "12:00:00", "whoami.exe"),
            ("ws-1", "13:00:00", "whoami.exe")]
    path = tmp_path / "plain.jsonl"
    path.write_text("".join(json.dumps({"event_id": f"e{i}", "timestamp": f"2024-05-01T{t}Z", "host": h,
                                        "user": "alice", "process_name": p}) + "\n"
                            for i, (h, t, p) in enumerate(rows)))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    assert main(["detect", *args]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def test_no_default_rules_loads_no_bundled_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = [_plain(tmp_path), SYSMON]
    hits, _ = _run(capsys, *inputs)
    assert {h["rule_source"] for h in hits} == {"technique_map", "sigma"}
    hits, err = _run(capsys, "--no-default-rules", *inputs)
    assert hits == []
    assert "sigma:" not in err  # no Sigma engine at all
    rule = tmp_path / "notepad.yml"
    rule.write_text(NOTEPAD_RULE.format(extra=""))
    hits, _ = _run(capsys, "--no-default-rules", "--rules", str(rule), "--", *inputs)
    assert {h["rule_id"] for h in hits} == {"6b1f6c38-1b49-4b8e-9d5f-6a3c2b1f0e9d"}


def test_rules_dir_still_selects_a_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack = tmp_path / "pack"
    (pack / "technique_maps").mkdir(parents=True)
    shutil.copy(ROOT / "rules" / "technique_maps" / "process_names.yaml", pack / "technique_maps")
    for flags in ([], ["--no-default-rules"]):
        hits, _ = _run(capsys, "--rules-dir", str(pack), *flags, _plain(tmp_path), SYSMON)
        assert {h["rule_source"] for h in hits} == {"technique_map"}  # its map; no Sigma pack in it
    assert main(["detect", "--rules-dir", str(tmp_path / "nope"), SYSMON]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_summary_groups_by_rule_and_by_technique_with_their_titles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, err = _run(capsys, _plain(tmp_path), SYSMON)
    by_rule = err.split("hits by rule:\n", 1)[1].split("hits by technique", 1)[0].splitlines()
    (map_line,) = [line for line in by_rule if "[map:ttpflow-process-names]" in line]
    # one rule, one title: whoami x5, cmd x2, and powershell.exe's one start in the Sysmon file
    assert map_line.split()[0] == "8"
    assert "A process whose name indicates an ATT&CK technique started" in map_line
    assert any("PowerShell Started With An Encoded Command" in line for line in by_rule)
    by_technique = [" ".join(line.split()) for line in
                    err.split("(a hit counts once for each technique it names):\n", 1)[1].splitlines()]
    assert "5 T1033 System Owner/User Discovery" in by_technique
    assert "2 T1059.003 Command and Scripting Interpreter: Windows Command Shell" in by_technique
    assert "2 T1059.001 Command and Scripting Interpreter: PowerShell" in by_technique  # the map and Sigma


def test_rules_that_ask_are_deduplicated_per_entity_and_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _plain(tmp_path)
    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "rules", pack)
    bundled = (pack / "technique_maps" / "process_names.yaml").read_text()
    (pack / "technique_maps" / "process_names.yaml").write_text(bundled.replace("entries:", "dedupe: 10m\nentries:"))
    hits, err = _run(capsys, "--rules-dir", str(pack), plain)
    maps = [(h["host"], h["event"]["process"]["name"], h["event"]["id"]) for h in hits
            if h["rule_source"] == "technique_map"]
    # ws-1: the first whoami and the first cmd of 12:00-12:10, the whoami of 13:00; ws-2: its whoami
    assert maps == [("ws-1", "whoami.exe", "e0"), ("ws-1", "cmd.exe", "e2"), ("ws-2", "whoami.exe", "e5"),
                    ("ws-1", "whoami.exe", "e6")]
    assert "(3 more deduplicated)" in err and "(+3 deduplicated)" in err
    hits, _ = _run(capsys, "--rules-dir", str(pack), "--no-dedupe", plain)
    assert len([h for h in hits if h["rule_source"] == "technique_map"]) == 7
    # a default window for every rule without one; a Sigma rule asks with ttpflow.dedupe
    hits, _ = _run(capsys, "--dedupe", "1h", plain)
    assert len([h for h in hits if h["rule_source"] == "technique_map"]) == 4  # 13:00 is a new hour
    rule = tmp_path / "notepad.yml"
    rule.write_text(NOTEPAD_RULE.format(extra="ttpflow.dedupe: 1d\n"))
    notepad = tmp_path / "notepad.jsonl"
    line = Path(SYSMON).read_text().splitlines()[3]  # the fixture's notepad.exe start
    notepad.write_text(f"{line}\n{line.replace('1004', '1005')}\n")
    hits, err = _run(capsys, "--no-default-rules", "--rules", str(rule), "--", str(notepad))
    assert len(hits) == 1 and "(+1 deduplicated)" in err
    assert main(["detect", "--dedupe", "soon", plain]) == 2


def _job_config(*args: str):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(list(args)))


def test_the_job_without_default_rules(tmp_path: Path) -> None:
    config = _job_config("--no-default-rules")
    assert config.rules_dir == str(NO_RULES_DIR)
    analyzer = Analyzer(config)
    assert analyzer.detector.technique_maps == [] and analyzer.detector.matchers == []
    assert CorrelationPlan(load_ruleset(config.rules_dir)).explain() == []
    rule = tmp_path / "notepad.yml"
    rule.write_text(NOTEPAD_RULE.format(extra=""))
    config = _job_config("--no-default-rules", "--sigma", str(rule))
    assert len(Analyzer(config).detector.matchers) == 1  # --sigma still loads
    config = _job_config("--no-default-rules", "--rules-dir", str(ROOT / "rules"))
    assert config.rules_dir == str(ROOT / "rules")  # --rules-dir still selects a pack
    assert _job_config().rules_dir == str(ROOT / "rules")
