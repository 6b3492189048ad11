"""The detector with the Sigma engine plugged in: hit shape, tactics, the default pack, the job's loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.hit import TechniqueHit
from tests.sigma_helpers import engine_from_yaml, record, windows_event
from udfs.detect.detector import Detector, default_detector, load_detector
from udfs.detect.sigma.engine import SigmaEngine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTPFLOW_CACHE_DIR", str(tmp_path / "cache"))


V19_RULE = """
title: Defender tampering (tagged with ATT&CK v19)
id: 9d0e3c52-5a8e-4c8e-a2d3-0b1e4f5a6b7c
status: test
level: high
tags: [attack.defense-impairment, attack.t1685]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: 'Set-MpPreference -DisableRealtimeMonitoring'
    condition: selection
"""

TACTIC_ONLY_RULE = """
title: Tactic without technique
id: 1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b
tags: [attack.discovery]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\\nltest.exe'
    condition: selection
"""


def test_sigma_hit_is_a_valid_technique_hit_with_catalog_ids() -> None:
    detector = Detector(matchers=[engine_from_yaml(V19_RULE)])
    event = windows_event(1, Image="C:\\pwsh.exe", CommandLine="Set-MpPreference -DisableRealtimeMonitoring $true")
    (hit,) = detector.detect(event)
    TechniqueHit.model_validate(hit)
    assert hit["rule_source"] == "sigma"
    assert hit["techniques"] == ["T1562.001"]  # v19 T1685 through the table
    assert hit["rule_techniques"] == ["T1685"]  # as the rule wrote it
    assert hit["tactics"] == ["defense-evasion"]  # defense-impairment (v19) is defense-evasion (v18)
    assert hit["level"] == "high" and hit["status"] == "test"
    assert hit["matched_fields"] == ["CommandLine"]
    assert hit["hit_id"] == f"{event['raw_sha256']}:9d0e3c52-5a8e-4c8e-a2d3-0b1e4f5a6b7c"
    assert hit["host"] == "ws-01"


def test_tactic_tags_count_without_techniques() -> None:
    detector = Detector(matchers=[engine_from_yaml(TACTIC_ONLY_RULE)])
    (hit,) = detector.detect(windows_event(1, Image="C:\\Windows\\System32\\nltest.exe"))
    assert hit["techniques"] == [] and hit["tactics"] == ["discovery"]


def test_default_detector_runs_the_own_pack() -> None:
    detector = default_detector()
    engines = [m for m in detector.matchers if isinstance(m, SigmaEngine)]
    # 17 in rules/sigma, and the 2 base rules inside rules/correlations/mr_bruteforce_then_logon.yml
    assert engines and engines[0].report.loaded == 19 and not engines[0].report.unsupported
    event = windows_event(8, SourceImage="C:\\Windows\\System32\\rundll32.exe", TargetImage="C:\\Windows\\explorer.exe")
    titles = [h["rule_title"] for h in detector.detect(event)]
    assert titles == ["Remote Thread Created In A System Process By A Script Host Or LOLBin"]


def test_seed_plain_json_events_get_no_extra_sigma_hits() -> None:
    """The walking skeleton's plain JSON carries its ATT&CK ids; the Sigma pack must not add to them."""
    detector = default_detector()
    event = record(
        "plain_json",
        {"event_id": "e1", "process_name": "notepad.exe"},
        process={"name": "notepad.exe"},
        threat={"technique_ids": ["T1055"]},
    )
    hits = detector.detect(event)
    assert [h["rule_source"] for h in hits] == ["event"]


def test_load_detector_adds_user_rules(tmp_path: Path) -> None:
    (tmp_path / "tactic.yml").write_text(TACTIC_ONLY_RULE)
    detector = load_detector(ROOT / "rules", [tmp_path], cache_dir=tmp_path / "cache")
    engine = next(m for m in detector.matchers if isinstance(m, SigmaEngine))
    assert engine.report.loaded == 20
    alone = load_detector(ROOT / "rules", [tmp_path], own_sigma=False, cache_dir=False)
    assert next(m for m in alone.matchers if isinstance(m, SigmaEngine)).report.loaded == 1
