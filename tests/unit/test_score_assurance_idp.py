"""Identity assurance from the identity provider's own findings and from privilege outside the tier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.assets import Inventory
from udfs.link.inventory import index_inventory
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.score import Scorer, factors
from udfs.score.assurance import auth_facts
from udfs.score.roles import load_role_table
from udfs.score.subject import Observation, Subject

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "normalize" / "idp_signals.jsonl"
INVENTORY = Inventory.model_validate({
    "kind": "asset_inventory",
    "assets": [
        {"name": "dev-1", "role": "developer_workstation"},
        {"name": "dc-1", "role": "domain_controller"},
        {"name": "app-1", "role": "server"},
        {"name": "jump-9", "role": "jump_host", "tier": "Tier 0"},  # the inventory's tier beats the role's
        {"name": "odd-1", "tier": "tier2"},  # no role: the tier alone says it
        {"name": "lab-1"},
    ],
    "identities": [
        {"user": "da", "privilege_tier": "tier0"},
        {"user": "ops", "privileged": True},  # tier1
        {"user": "dev", "privilege_tier": "tier2"},
    ],
})
SCORER = Scorer(index_inventory(INVENTORY), load_role_table(ROOT / "rules"))
OK = {"outcome": "success"}


def obs(auth: dict[str, Any] | None, host: str | None = "lab-1", user: str | None = "stranger",
        ref: str = "e1") -> Observation:
    return Observation(ref=ref, host=host, user=user, techniques=(), tactics=(), authentication=auth)


def assurance(*observations: Observation) -> dict[str, Any]:
    subject: Subject = SCORER.subject("high", observations)
    return dict(factors.identity_assurance(subject))


@pytest.mark.parametrize(("flags", "weight", "words"), [
    ({"new_device": True}, 1.1, "had not seen this device"),
    ({"token_anomaly": True}, 1.3, "token as anomalous"),
    ({"impossible_travel": True}, 1.2, "impossible travel"),
    ({"velocity": True}, 1.2, "impossible travel"),  # Okta's name, read directly too
    ({"unmanaged_device": True}, 1.05, "unmanaged device"),
    ({"threat_suspected": True}, 1.15, "ThreatInsight"),
    ({"root": True}, 1.2, "root user"),
    ({"new_country": True, "country": "KP"}, 1.15, "sign in from KP before"),
    ({"mfa": False, "sensitive_call": True}, 1.2, "changed IAM"),
    ({"new_device": False, "token_anomaly": False, "unmanaged_device": False}, 1.0, "show no weakness"),
])
def test_each_provider_finding(flags: dict[str, Any], weight: float, words: str) -> None:
    f = assurance(obs(OK | flags))
    assert f["weight"] == weight and words in f["reason"], f


@pytest.mark.parametrize(("user", "host", "logon", "found"), [
    ("da", "dev-1", "Interactive", True),  # a domain admin on a developer workstation
    ("da", "app-1", "RemoteInteractive", True),  # tier0 on a tier1 server is outside its tier too
    ("ops", "dev-1", "Interactive", True),
    ("ops", "odd-1", "Unlock", True),  # the inventory's tier without a role
    ("da", "dc-1", "Interactive", False),
    ("da", "jump-9", "RemoteInteractive", False),  # the jump host is tier0 by the inventory, not tier1
    ("ops", "app-1", "Interactive", False),
    ("dev", "dev-1", "Interactive", False),
    ("da", "dev-1", "Network", False),  # a network logon leaves no reusable credential on the host
    ("da", "lab-1", "Interactive", False),  # no role, no tier: not known
    ("da", "nowhere", "Interactive", False),  # not in the inventory
])
def test_privilege_outside_the_tier(user: str, host: str, logon: str, found: bool) -> None:
    f = assurance(obs(OK | {"logon_type": logon}, host=host, user=user))
    assert ("interactively on" in f["reason"]) is found, f
    assert f["weight"] == (1.2 if found else 1.0), f


def test_outside_the_tier_names_who_and_where() -> None:
    f = assurance(obs(OK | {"logon_type": "Interactive"}, host="dev-1", user="da"))
    assert f["reason"] == ("tier0 account da signed in interactively on tier2 host dev-1: its credentials are "
                           "exposed to a tier2 compromise (e1)")


def test_each_kind_counts_once_per_alert() -> None:
    f = assurance(obs(OK | {"new_device": True}, ref="e1"), obs(OK | {"new_device": True}, ref="e2"))
    assert f["weight"] == 1.1 and "(e1)" in f["reason"] and "(e2)" not in f["reason"]


def test_the_graver_no_mfa_is_kept_not_both() -> None:
    f = assurance(obs(OK | {"mfa": False}, ref="e1"), obs({"mfa": False, "sensitive_call": True}, ref="e2"))
    assert f["weight"] == 1.2 and "changed IAM" in f["reason"] and "(e2)" in f["reason"]


def test_the_product_is_capped() -> None:
    f = assurance(obs(OK | {"token_anomaly": True, "impossible_travel": True, "new_device": True}))
    assert f["weight"] == 1.4
    assert all(w in f["reason"] for w in ("anomalous", "impossible travel", "this device"))


def test_a_failed_sign_in_adds_nothing() -> None:
    every = {"new_device": True, "token_anomaly": True, "impossible_travel": True, "unmanaged_device": True,
             "threat_suspected": True, "root": True, "new_country": True, "mfa": False, "sensitive_call": True,
             "logon_type": "Interactive"}
    f = assurance(obs({"outcome": "failure"} | every, host="dev-1", user="da"))
    assert f["weight"] == 1.0 and "neutral" in f["reason"]


def test_auth_facts_keep_true_flags_only() -> None:
    event = {"authentication": {"outcome": "success", "new_device": True, "new_ip": True, "velocity": True,
                                "token_anomaly": False, "risk_events": ["anomalousToken"]}}
    assert auth_facts(event) == {"outcome": "success", "new_device": True, "impossible_travel": True}


def test_from_normalized_events_to_the_factor() -> None:
    normalizer = Normalizer()
    facts: dict[str, dict[str, Any] | None] = {}
    for payload, origin in iter_records(FIXTURE):
        event = normalizer.normalize(payload, origin).event
        assert event is not None
        facts[str(event["id"])] = auth_facts(event)
    okta = assurance(obs(facts["okta-behaviors-1"]))
    # risk medium 1.1 x new device 1.1 x velocity 1.2 x ThreatInsight 1.15 = 1.67, capped
    assert okta["weight"] == 1.4 and "impossible travel" in okta["reason"]
    assert assurance(obs(facts["entra-failed-4"]))["weight"] == 1.0  # anomalous token, but the sign-in failed
    root = assurance(obs(facts["ct-root-5"]))
    assert root["weight"] == 1.38 and "root user" in root["reason"]  # root 1.2 x no MFA 1.15
    assert assurance(obs(facts["ct-iam-6"]))["weight"] == 1.2
    assert assurance(obs(facts["ct-read-7"]))["weight"] == 1.15


def test_the_alert_shows_the_hosts_tier() -> None:
    index = index_inventory(INVENTORY)
    assert index.assets["jump-9"].tier == "tier0" and index.assets["dev-1"].tier is None
