"""Each severity factor on its own: neutral (1.0, and says why) without data, and moved the documented
way with it (docs/scoring.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.assets import Inventory
from schemas.scoring import RoleTechniqueEntry
from udfs.detect.catalog import default_catalog
from udfs.link.inventory import index_inventory
from udfs.rulefile import RuleFileError
from udfs.score import Scorer, factors
from udfs.score.assurance import auth_facts, legacy_of
from udfs.score.roles import RoleTable, load_role_table
from udfs.score.subject import Observation, Subject

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Inventory.model_validate({
    "kind": "asset_inventory",
    "assets": [
        {"name": "dev-1", "role": "developer_workstation", "criticality": "medium"},
        {"name": "dc-1", "role": "domain_controller", "criticality": "critical", "data_sensitivity": ["crown-jewel"],
         "internet_facing": False},
        {"name": "web-1", "role": "web_server", "internet_facing": True, "data_sensitivity": ["pii", "pci"]},
        {"name": "ws-1", "role": "workstation"},
        {"name": "lab-1", "criticality": 0},
    ],
    "identities": [
        {"user": "root.admin", "privilege_tier": "tier0"},
        {"user": "ops", "privileged": True},
        {"user": "ann", "privilege_tier": "tier2", "mfa_enrolled": False, "usual_countries": ["US"],
         "usual_hosts": ["ws-1"]},
        {"user": "svc_backup", "service_account": True, "privilege_tier": "tier1"},
    ],
})
SCORER = Scorer(index_inventory(INVENTORY), load_role_table(ROOT / "rules"))


def obs(host: str | None = None, techniques: tuple[str, ...] = (), user: str | None = None,
        criticality: int | None = None, auth: dict[str, Any] | None = None, ref: str = "e1") -> Observation:
    tactics = tuple(default_catalog().tactics_for_all(list(techniques)))
    return Observation(ref=ref, host=host, user=user, techniques=techniques, tactics=tactics,
                       criticality=criticality, authentication=auth)


def subject(*observations: Observation, level: str = "high") -> Subject:
    return SCORER.subject(level, observations)


def test_criticality_moves_four_percent_a_point_around_five() -> None:
    assert factors.asset_criticality(subject(obs("dev-1")))["weight"] == 1.0
    assert factors.asset_criticality(subject(obs("dc-1")))["weight"] == 1.2
    assert factors.asset_criticality(subject(obs("lab-1")))["weight"] == 0.8


def test_criticality_the_event_carries_wins_and_the_highest_host_counts() -> None:
    f = factors.asset_criticality(subject(obs("dc-1", criticality=3), obs("dev-1", criticality=7)))
    assert f["weight"] == 1.08 and "dev-1" in f["reason"]


def test_criticality_unknown_is_neutral() -> None:
    f = factors.asset_criticality(subject(obs("nowhere")))
    assert f["weight"] == 1.0 and "neutral" in f["reason"]


def test_obfuscation_is_routine_on_a_developer_workstation() -> None:
    f = factors.role_technique(subject(obs("dev-1", ("T1027.002",))), SCORER.roles)
    assert f["weight"] == 0.6 and "developer_workstation" in f["reason"]


def test_exfiltration_from_a_domain_controller_is_not() -> None:
    f = factors.role_technique(subject(obs("dc-1", ("T1048",))), SCORER.roles)
    assert f["weight"] == 1.4 and "domain controller" in f["reason"]


def test_a_routine_step_never_discounts_an_alarming_or_unknown_one() -> None:
    both = factors.role_technique(subject(obs("dc-1", ("T1027",)), obs("dc-1", ("T1048",))), SCORER.roles)
    assert both["weight"] == 1.4
    mixed = factors.role_technique(subject(obs("dev-1", ("T1027",)), obs("dev-1", ("T1048",))), SCORER.roles)
    assert mixed["weight"] == 1.0 and "routine, but not T1048 on developer_workstation" in mixed["reason"]
    roleless = factors.role_technique(subject(obs("dev-1", ("T1027",)), obs("lab-1", ("T1027",))), SCORER.roles)
    assert roleless["weight"] == 1.0 and "lab-1 (no role known)" in roleless["reason"]


def test_role_technique_is_neutral_without_a_role_or_an_entry() -> None:
    assert factors.role_technique(subject(obs("lab-1", ("T1027",))), SCORER.roles)["reason"].startswith(
        "no role known for lab-1")
    assert factors.role_technique(subject(obs("ws-1", ("T1055",))), SCORER.roles)["reason"].startswith(
        "no role x technique entry for T1055 on workstation")
    empty = Scorer(index_inventory(INVENTORY))  # no table in the rules dir: nothing weighs
    assert factors.role_technique(subject(obs("dc-1", ("T1048",))), empty.roles)["weight"] == 1.0


def test_the_most_specific_role_entry_wins() -> None:
    table = RoleTable.of([
        RoleTechniqueEntry(roles=["x"], tactics=["defense-evasion"], weight=1.5, reason="tactic-level entry"),
        RoleTechniqueEntry(roles=["x"], techniques=["T1027"], weight=0.5, reason="parent-level entry"),
        RoleTechniqueEntry(roles=["x"], techniques=["T1027.002"], weight=0.9, reason="exact sub-technique entry"),
    ])
    assert table.weigh("x", "T1027.002").weight == 0.9  # type: ignore[union-attr]
    assert table.weigh("x", "T1027.001").weight == 0.5  # type: ignore[union-attr]
    assert table.weigh("x", "T1070").weight == 1.5  # type: ignore[union-attr]
    assert table.weigh("y", "T1027") is None


def test_exposure() -> None:
    assert factors.exposure(subject(obs("web-1")))["weight"] == 1.15
    assert factors.exposure(subject(obs("dc-1"), obs("web-1")))["weight"] == 1.15
    internal = factors.exposure(subject(obs("dc-1")))
    assert internal["weight"] == 1.0 and "not internet-facing" in internal["reason"]
    assert "not known" in factors.exposure(subject(obs("ws-1")))["reason"]


def test_data_sensitivity_counts_when_the_data_is_touched() -> None:
    exfil = factors.data_sensitivity(subject(obs("dc-1", ("T1048",))))
    assert exfil["weight"] == 1.25 and "crown_jewel" in exfil["reason"]
    web = factors.data_sensitivity(subject(obs("web-1", ("T1005",))))
    assert web["weight"] == 1.15 and "pci" in web["reason"]  # the most sensitive class the host holds
    untouched = factors.data_sensitivity(subject(obs("dc-1", ("T1055",))))
    assert untouched["weight"] == 1.0 and "no collection, exfiltration or impact" in untouched["reason"]
    assert factors.data_sensitivity(subject(obs("ws-1", ("T1048",))))["weight"] == 1.0


def test_privilege_tier_takes_the_most_privileged_user() -> None:
    assert factors.privilege_tier(subject(obs(user="ann"), obs(user="root.admin")))["weight"] == 1.3
    ops = factors.privilege_tier(subject(obs(user="ops")))
    assert ops["weight"] == 1.15 and "tier1" in ops["reason"]  # privileged: true without a tier
    assert factors.privilege_tier(subject(obs(user="ann")))["weight"] == 1.0
    assert "no privilege tier known for stranger" in factors.privilege_tier(subject(obs(user="stranger")))["reason"]
    assert "no user" in factors.privilege_tier(subject(obs("ws-1")))["reason"]


def test_progression_grows_with_tactics_and_span_and_is_capped() -> None:
    catalog = default_catalog()
    one = factors.progression(subject(obs("ws-1", ("T1027",)), obs("ws-1", ("T1140",))), catalog)
    assert one["weight"] == 1.0 and one["reason"] == "one tactic (defense-evasion): no kill-chain progression"
    single = factors.progression(subject(obs("ws-1", ("T1055",))), catalog)  # two tactics, one hit
    assert single["weight"] == 1.0 and single["reason"] == "a single hit: no kill-chain progression"
    two = factors.progression(subject(obs("ws-1", ("T1027",)), obs("ws-1", ("T1048",))), catalog)
    assert two["weight"] == 1.09  # 1 + 0.03 x 1 tactic more + 0.01 x 6 stages
    many = subject(*(obs("ws-1", (t,)) for t in ("T1595", "T1566", "T1059", "T1547", "T1055", "T1003", "T1082",
                                                 "T1021", "T1005", "T1071", "T1048", "T1486")))
    assert factors.progression(many, catalog)["weight"] == 1.3


@pytest.mark.parametrize(("auth", "weight", "words"), [
    ({"outcome": "success", "mfa": False}, 1.15, "without MFA"),
    ({"outcome": "success", "protocol": "NTLM V1"}, 1.2, "NTLMv1"),
    ({"outcome": "success", "protocol": "kerberos", "ticket_encryption": "RC4-HMAC"}, 1.2, "RC4-HMAC"),
    ({"outcome": "success", "risk_level": "high"}, 1.2, "risk high"),
    ({"outcome": "success", "mfa": False, "protocol": "ropc", "risk_level": "high"}, 1.4, "password grant"),
    ({"outcome": "failure", "mfa": False}, 1.0, "neutral"),
    ({"outcome": "success", "mfa": True, "protocol": "kerberos"}, 1.0, "show no weakness"),
])
def test_identity_assurance_from_the_events(auth: dict[str, Any], weight: float, words: str) -> None:
    f = factors.identity_assurance(subject(obs("ws-1", user="stranger", auth=auth)))
    assert f["weight"] == weight and words in f["reason"], f


def test_identity_assurance_from_the_directory() -> None:
    f = factors.identity_assurance(subject(obs("ws-1", user="ann")))
    assert f["weight"] == 1.1 and "ann is not enrolled in MFA" in f["reason"]
    abroad = factors.identity_assurance(subject(obs("dev-1", user="ann", auth={
        "outcome": "success", "logon_type": "RemoteInteractive", "country": "KP"})))
    assert "outside their usual countries (US)" in abroad["reason"]
    assert "not one of their usual hosts" in abroad["reason"]
    # lab-1 has no role or tier: a tier1 account on ws-1 (a tier2 workstation) would also be outside its tier.
    svc = factors.identity_assurance(subject(obs("lab-1", user="svc_backup", auth={
        "outcome": "success", "logon_type": "Interactive"})))
    assert svc["weight"] == 1.15 and "service account svc_backup signed in interactively" in svc["reason"]
    assert "no sign-in facts" in factors.identity_assurance(subject(obs("ws-1", user="stranger")))["reason"]


def test_auth_facts_keep_only_what_scoring_reads() -> None:
    event = {"authentication": {"mfa": False, "session_id": "s1", "outcome": "success", "protocol": None},
             "source": {"ip": "203.0.113.9", "geo": {"country_iso_code": "de"}}}
    assert auth_facts(event) == {"mfa": False, "outcome": "success", "country": "DE"}
    assert auth_facts({"host": {"name": "x"}}) is None
    assert legacy_of({"logon_type": "NetworkCleartext"}) == "cleartext network logon"
    assert legacy_of({"protocol": "NTLM V2"}) is None


def test_a_bad_role_table_fails_with_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "scoring").mkdir()
    path = tmp_path / "scoring" / "role_techniques.yaml"
    path.write_text("kind: role_techniques\nentries:\n  - roles: [dc]\n    techniques: [T9999]\n"
                    "    weight: 1.2\n    reason: not a technique anyone knows\n")
    with pytest.raises(RuleFileError, match=rf"{path}:4: field entries.0.techniques.0: unknown ATT&CK technique"):
        load_role_table(tmp_path)
    path.write_text("kind: role_techniques\nentries:\n  - roles: [dc]\n    tactics: [exfiltration]\n"
                    "    weight: 7\n    reason: far too heavy a weight\n")
    with pytest.raises(RuleFileError, match=rf"{path}:5: field entries.0.weight"):
        load_role_table(tmp_path)


def test_the_bundled_role_table_loads() -> None:
    table = load_role_table(ROOT / "rules")
    assert {"developer_workstation", "domain_controller", "kiosk"} <= table.roles
