"""The identity provider's own sign-in findings reach ``authentication``: Okta behaviors and
ThreatInsight, Entra risk detections and device state, CloudTrail root use and IAM writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.event import Event
from udfs.normalize.entra import unmanaged
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.okta_behaviors import parse_behaviors, sign_in_facts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "normalize" / "idp_signals.jsonl"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def _events(path: Path) -> list[dict[str, Any]]:
    normalizer = Normalizer()
    out: list[dict[str, Any]] = []
    for payload, origin in iter_records(path):
        outcome = normalizer.normalize(payload, origin)
        if outcome.event is not None:
            Event.model_validate(outcome.event)  # the new fields are in the model, not just in a dict
            out.append(outcome.event)
    return out


EVENTS = {str(e["id"]): e for e in _events(FIXTURE)}


@pytest.mark.parametrize(("event_id", "expected"), [
    ("okta-behaviors-1", {"new_device": True, "new_ip": True, "new_country": False, "velocity": True,
                          "threat_suspected": True, "anonymized_ip": True, "risk_level": "medium"}),
    ("okta-logonly-2", {"new_device": False, "new_ip": True, "new_country": True, "velocity": False,
                        "threat_suspected": False, "anonymized_ip": False, "risk_level": "high"}),
    ("entra-risky-3", {"token_anomaly": True, "impossible_travel": True, "anonymized_ip": True,
                       "unmanaged_device": True, "mfa": False,
                       "risk_events": ["anomalousToken", "impossibleTravel", "anonymizedIPAddress", "unlikelyTravel"]}),
    ("entra-failed-4", {"token_anomaly": True, "new_country": True, "unmanaged_device": False,
                        "outcome": "failure"}),
    ("ct-root-5", {"root": True, "mfa": False, "outcome": "success"}),
    ("ct-iam-6", {"sensitive_call": True, "mfa": False}),
    ("ct-read-7", {"mfa": False, "sensitive_call": None, "root": None}),
])
def test_fixture_fields(event_id: str, expected: dict[str, Any]) -> None:
    auth = EVENTS[event_id]["authentication"]
    assert {k: auth.get(k) for k in expected} == expected


def test_okta_unevaluated_behaviors_are_left_out() -> None:
    # "New City=UNKNOWN" is not mapped; an unevaluated mapped behavior is not a fact either.
    assert "new_device" not in sign_in_facts({"behaviors": "{New Device=UNKNOWN, New IP=BAD_REQUEST}"}, {})
    assert sign_in_facts({"logOnlySecurityData": "not json"}, {}) == {}
    assert sign_in_facts({}, {"isProxy": None, "isTor": None}) == {}
    assert sign_in_facts({}, {"isTor": "true"}) == {"anonymized_ip": True}


def test_okta_plain_behaviors_win_over_log_only_data() -> None:
    facts = sign_in_facts({"behaviors": "{New Device=POSITIVE}",
                           "logOnlySecurityData": '{"behaviors": {"New Device": "NEGATIVE"}}'}, {})
    assert facts == {"new_device": True}


def test_entra_device_state() -> None:
    assert unmanaged({"isManaged": False}) is True
    assert unmanaged({"deviceId": "", "operatingSystem": "MacOs"}) is True
    assert unmanaged({"deviceId": "d-1", "isCompliant": True}) is False
    assert unmanaged({"isManaged": "true"}) is False
    assert unmanaged({"deviceId": "d-1"}) is None  # registered, management not said
    assert unmanaged({}) is None


_NAME = st.text(st.characters(blacklist_characters=",={}", blacklist_categories=("Cs",)), min_size=1,
                max_size=20).filter(lambda s: s.strip() == s and s != "")
_VALUE = st.sampled_from(["POSITIVE", "NEGATIVE", "UNKNOWN", "BAD_REQUEST"])


@given(st.dictionaries(_NAME, _VALUE, max_size=8))
def test_behaviors_round_trip(behaviors: dict[str, str]) -> None:
    text = "{" + ", ".join(f"{k}={v}" for k, v in behaviors.items()) + "}"
    assert parse_behaviors(text) == behaviors


@given(st.text(max_size=200))
def test_behaviors_parser_never_fails(text: str) -> None:
    parsed = parse_behaviors(text)
    assert all(k and "," not in k and "=" not in k for k in parsed)
    facts = sign_in_facts({"behaviors": text, "logOnlySecurityData": text, "threatSuspected": text}, {})
    assert all(isinstance(v, bool) for v in facts.values())


shared = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")


def _sample_auths(folder: str) -> list[dict[str, Any]]:
    files = sorted((SAMPLES / folder).glob("*.jsonl"))
    if not files:
        pytest.skip(f"no {folder} samples")
    return [e["authentication"] for f in files for e in _events(f) if e.get("authentication")]


@pytest.mark.shared
@shared
def test_okta_samples_carry_behaviors_and_threat_verdict() -> None:
    auths = _sample_auths("okta")
    # The samples say NEGATIVE and "false": the facts are there, and they are false.
    assert any(a.get("new_device") is False and a.get("velocity") is False for a in auths)
    assert any(a.get("threat_suspected") is False for a in auths)
    assert not any(a.get("new_device") for a in auths)


@pytest.mark.shared
@shared
def test_entra_samples_carry_risk_detections_and_device_state() -> None:
    auths = _sample_auths("azure-entra")
    assert any(a.get("token_anomaly") and "anomalousToken" in a.get("risk_events", []) for a in auths)
    assert any(a.get("anonymized_ip") for a in auths)
    assert any(a.get("unmanaged_device") is True for a in auths)  # deviceId "" in the Elastic sign-ins


@pytest.mark.shared
@shared
def test_cloudtrail_samples_carry_root_use_and_iam_writes() -> None:
    auths = _sample_auths("cloudtrail")
    assert any(a.get("root") for a in auths)
    assert any(a.get("sensitive_call") and a.get("mfa") is False for a in auths)
