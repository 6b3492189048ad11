"""The committed ATT&CK catalog, its v19 tag table, and how rule tags resolve through them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from udfs.detect.catalog import DEFAULT_CATALOG, DEFAULT_V19_TABLE, default_catalog
from udfs.detect.sigma.tags import resolve_tags

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT.parent / "shared" / "attack" / "enterprise-attack.json"
MIGRATION = ROOT.parent / "shared" / "sigma" / "attack-v19-tag-migration.json"


def test_catalog_version_and_shape() -> None:
    catalog = default_catalog()
    assert catalog.attack_version == "18.1"
    assert catalog.tactic_order[0] == "reconnaissance" and catalog.tactic_order[-1] == "impact"
    injection = catalog.techniques["T1055"]
    assert injection["name"] == "Process Injection"
    assert injection["tactics"] == ["privilege-escalation", "defense-evasion"]  # kill-chain order
    assert "Process Access" in injection["data_components"]
    assert catalog.techniques["T1071.001"]["tactics"] == ["command-and-control"]


def test_revoked_and_deprecated_carry_successors() -> None:
    techniques = default_catalog().techniques
    assert techniques["T1086"]["revoked_by"] == "T1059.001"
    assert techniques["T1064"]["deprecated"] is True
    assert techniques["T1064"]["successors"] == ["T1059"]
    revoked = [t for t in techniques.values() if "revoked_by" in t]
    assert len(revoked) > 100
    # chains resolved: a successor is never itself revoked
    assert all(not techniques.get(t["revoked_by"] or "", {}).get("revoked_by") for t in revoked)


def test_resolution_of_technique_ids() -> None:
    catalog = default_catalog()
    assert catalog.resolve_technique("t1055.012").resolved == "T1055.012"
    revoked = catalog.resolve_technique("T1086")
    assert (revoked.resolved, revoked.known) == ("T1059.001", True) and "revoked" in (revoked.note or "")
    v19 = catalog.resolve_technique("T1685")
    assert v19.resolved == "T1562.001" and "v19" in (v19.note or "")
    unknown = catalog.resolve_technique("T1999")
    assert (unknown.resolved, unknown.known) == ("T1999", False)
    assert catalog.resolve_tactic("stealth").resolved == "defense-evasion"
    assert catalog.resolve_tactic("defense-impairment").resolved == "defense-evasion"


def test_tags_are_mapped_or_kept_never_dropped() -> None:
    attack = resolve_tags(
        [
            "attack.stealth",
            "attack.defense-impairment",
            "attack.t1685.005",
            "attack.t1999",
            "attack.g0016",
            "attack.execution",
            "cve.2021-44228",
        ],
        default_catalog(),
    )
    assert attack.techniques == ("T1070.001", "T1999")
    assert attack.tagged_techniques == ("T1685.005", "T1999")
    assert attack.tactics == ("execution", "defense-evasion")
    assert any("T1999" in w for w in attack.warnings)
    assert any("T1685.005" in n for n in attack.notes)


def test_v19_table_is_documented_data() -> None:
    table = json.loads(DEFAULT_V19_TABLE.read_text())
    assert table["catalog_attack_version"] == "18.1"
    assert table["techniques"]["T1686.003"]["v18"] == "T1562.004"
    assert table["techniques"]["T1690"]["v18"] == "T1562.003"
    known = default_catalog().techniques
    assert all(entry["v18"] in known for entry in table["techniques"].values())


@pytest.mark.shared
@pytest.mark.skipif(not MIGRATION.exists(), reason="../shared/sigma absent")
def test_migrated_sigmahq_tags_resolve_to_their_v18_tags() -> None:
    catalog = default_catalog()
    rules = json.loads(MIGRATION.read_text())["rules"]
    exact = same_tactics = 0
    for rule in rules:
        v18 = resolve_tags(rule["v18_tags"], catalog)
        v19 = resolve_tags(rule["v19_tags"], catalog)
        assert not v19.warnings, (rule["path"], v19.warnings)
        exact += set(v19.techniques) == set(v18.techniques)
        # The tactics a hit gets: the techniques' tactics plus the rule's own tactic tags.
        effective = [set(catalog.tactics_for_all(list(a.techniques))) | set(a.tactics) for a in (v18, v19)]
        same_tactics += effective[0] <= effective[1]
    # Where v19 merged several v18 ids into one (T1562 / T1562.006 -> T1685), one v18 id comes back.
    assert exact / len(rules) > 0.97
    assert same_tactics / len(rules) > 0.97


@pytest.mark.shared
@pytest.mark.skipif(not BUNDLE.exists(), reason="../shared/attack absent")
def test_build_script_reproduces_committed_catalog(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_attack_catalog as script
    finally:
        sys.path.pop(0)
    built = script.build(json.loads(BUNDLE.read_text()))
    assert json.loads(json.dumps(built)) == json.loads(DEFAULT_CATALOG.read_text())
    table = script.build_v19_migration(json.loads(MIGRATION.read_text()), built)
    assert table == json.loads(DEFAULT_V19_TABLE.read_text())
