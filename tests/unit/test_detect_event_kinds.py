"""Event kinds and the technique maps that apply to some kinds only (process creation by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.event_kinds import check_kinds
from udfs.detect.detector import Detector, load_detector
from udfs.detect.event_kinds import KindFilter, event_kinds, is_process_creation
from udfs.detect.technique_map import load_technique_map
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.rulefile import RuleFileError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
ROOT = Path(__file__).resolve().parents[2]


def _events(name: str) -> list[dict[str, Any]]:
    normalizer = Normalizer()
    out = []
    for payload, origin in iter_records(FIXTURES / name):
        event = normalizer.normalize(payload, origin).event
        assert event is not None, (name, origin.line)
        out.append(event)
    return out


def _by_code(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event"]["code"]: e for e in events}


def test_process_creation_is_sysmon_1_security_4688_execve_and_linux_sysmon_1() -> None:
    windows = _events("windows_evtx.jsonl") + _events("winlogbeat.jsonl")
    starts = {(e["source_format"], e["event"]["code"]) for e in windows if is_process_creation(e)}
    assert starts == {("windows_evtx_json", "1"), ("windows_evtx_json", "4688"),
                      ("winlogbeat", "1"), ("winlogbeat", "4688")}
    for name in ("auditd.log", "auditd_json.jsonl"):
        assert [e["event"]["action"] for e in _events(name) if is_process_creation(e)] == ["execve"]
    assert [e["event"]["code"] for e in _events("sysmon_linux.log") if is_process_creation(e)] == ["1"]


def test_kinds_of_events_that_carry_a_process_but_start_none() -> None:
    sysmon = _by_code(_events("windows_evtx.jsonl"))
    assert event_kinds(sysmon["1"]) == ["process_start"]
    assert event_kinds(sysmon["7"]) == ["library_start"]  # an image load: the process loads, it does not start
    assert event_kinds(sysmon["400"]) == []  # the PowerShell engine inside a host process
    assert event_kinds(sysmon["4103"]) == ["process_info"]
    assert event_kinds(sysmon["10"]) == ["process_access"]
    assert event_kinds(sysmon["13"]) == ["registry_change"]
    assert event_kinds(sysmon["3"]) == ["network_connection", "network_start"]
    assert event_kinds(sysmon["4663"]) == []  # known channel, unmapped id: type info, no category
    assert event_kinds(_events("plain_json.jsonl")[0]) == ["unclassified"]


def test_kind_filter() -> None:
    sysmon = _by_code(_events("windows_evtx.jsonl"))
    plain = _events("plain_json.jsonl")[0]
    starts = KindFilter.of(["process_start"])
    assert starts.matches(sysmon["1"]) and starts.matches(sysmon["4688"])
    assert not any(starts.matches(sysmon[c]) for c in ("7", "400", "4103", "10", "13", "3", "4663"))
    assert not starts.matches(plain)
    assert KindFilter.of(["process_start", "unclassified"]).matches(plain)
    assert KindFilter.of(["any"]).matches(sysmon["4663"])
    assert KindFilter.of(["registry_change", "process_access"]).matches(sysmon["10"])


def test_kind_names_are_checked() -> None:
    assert check_kinds([" Process_Start", "process_start", "intrusion_detection_info"]) == [
        "process_start", "intrusion_detection_info"]
    with pytest.raises(ValueError, match="unknown event kind 'process_begin'"):
        check_kinds(["process_begin"])
    with pytest.raises(ValueError, match="at least one"):
        check_kinds([])


def _write_map(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "technique_maps" / "m.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("kind: technique_map\nid: m\nfield: process.name\n" + body)
    return path


def test_the_bundled_map_fires_on_process_starts_and_unclassified_records_only() -> None:
    detector = load_detector(ROOT / "rules", own_sigma=False)
    windows = _events("windows_evtx.jsonl")
    fired = sorted(e["event"]["code"] for e in windows for h in detector.detect(e)
                   if h["rule_source"] == "technique_map")
    assert fired == ["1", "4688"]  # powershell.exe starting, whoami.exe starting; not its image loads etc.
    powershell = [e for e in windows if (e.get("process") or {}).get("name") == "powershell.exe"]
    assert len(powershell) > 10  # the events it used to fire on
    (hit,) = [h for h in detector.detect(_events("plain_json.jsonl")[0]) if h["rule_source"] == "technique_map"]
    assert hit["rule_id"] == "map:ttpflow-process-names"
    assert hit["rule_title"] == "A process whose name indicates an ATT&CK technique started"


def test_an_entry_names_its_own_kinds(tmp_path: Path) -> None:
    tmap = load_technique_map(_write_map(tmp_path, """
entries:
  - match: [powershell.exe]
    techniques: [T1059.001]
  - match: [powershell.exe]
    techniques: [T1071]
    event_kinds: [network_connection]
  - match: [mimikatz.exe]
    techniques: [T1003.001]
    event_kinds: [any]
"""))
    detector = Detector(technique_maps=[tmap])
    sysmon = _by_code(_events("windows_evtx.jsonl"))
    assert [h["techniques"] for h in detector.detect(sysmon["1"])] == [["T1059.001"]]
    assert [h["techniques"] for h in detector.detect(sysmon["3"])] == [["T1071"]]
    assert detector.detect(sysmon["13"]) == []
    assert [h["techniques"] for h in detector.detect(sysmon["10"])] == [["T1003.001"]]  # any: process access too
    assert detector.detect(sysmon["10"])[0]["rule_title"] == "Technique map m"


def test_a_map_names_its_kinds_for_all_entries(tmp_path: Path) -> None:
    tmap = load_technique_map(_write_map(tmp_path, """event_kinds: [registry_change]
entries:
  - match: [powershell.exe]
    techniques: [T1112]
"""))
    sysmon = _by_code(_events("windows_evtx.jsonl"))
    assert [c for c, e in sysmon.items() if tmap.lookup(e)] == ["12", "13", "14"]


def test_bad_kinds_and_shadowed_entries_fail_at_load_with_file_line_and_field(tmp_path: Path) -> None:
    path = _write_map(tmp_path, """entries:
  - match: [a.exe]
    techniques: [T1059]
    event_kinds: [process_launch]
""")
    with pytest.raises(RuleFileError) as err:
        load_technique_map(path)
    assert err.value.location is not None
    assert (err.value.location.path, err.value.location.line, err.value.location.field) == (
        str(path), 7, "entries.0.event_kinds")
    assert "unknown event kind 'process_launch'" in str(err.value)
    path = _write_map(tmp_path, """entries:
  - match: [a.exe]
    techniques: [T1059]
  - match: [b.exe, A.EXE]
    techniques: [T1106]
    event_kinds: [process_start, file_creation]
""")
    with pytest.raises(RuleFileError, match=r"'A\.EXE' is already mapped by entry 0") as err:
        load_technique_map(path)
    assert err.value.location is not None and err.value.location.line == 7


def test_a_map_over_another_field_applies_to_every_event_unless_it_says(tmp_path: Path) -> None:
    path = tmp_path / "technique_maps" / "zeek.yaml"
    path.parent.mkdir()
    path.write_text("kind: technique_map\nid: z\nfield: network.protocol\n"
                    "entries:\n  - match: [ssl]\n    techniques: [T1071.001]\n")
    zeek = _events("zeek.jsonl")
    assert [e for e in zeek if load_technique_map(path).lookup(e)] == [e for e in zeek if e.get("network", {}).get(
        "protocol") == "ssl"] != []
    path.write_text(path.read_text().replace("entries:", "event_kinds: [process_start]\nentries:"))
    assert not any(load_technique_map(path).lookup(e) for e in zeek)
