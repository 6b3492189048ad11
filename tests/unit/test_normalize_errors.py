"""Dead-letter details speak the vendor's field names: never Python exception text, and a missing
field is named with every name the format would have accepted for it."""

from __future__ import annotations

import builtins
import random
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import Origin
from tests.unit.test_normalize_hostile import SEEDS, _hostile, vendorish
from udfs.normalize import cloudtrail, entra, registry
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.windows import nxlog

ORIGIN = Origin(topic="raw", partition=0, offset=7)
EXCEPTION_NAMES = sorted(
    {name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)}
    | {"ValidationError", "JSONDecodeError", "ParseError", "NormalizeError", "TtpflowError", "Traceback"}
)
PYTHON_TEXT = re.compile(r"\b(?:" + "|".join(EXCEPTION_NAMES) + r")\b")
FORMATS = [None, *registry.names()]


def assert_clean(letter: dict[str, Any]) -> None:
    for key in ("reason", "detail"):
        found = PYTHON_TEXT.search(letter[key])
        assert found is None, f"{key} carries Python exception text {found.group(0)!r}: {letter[key]!r}"


def test_the_scan_finds_what_it_looks_for() -> None:
    assert PYTHON_TEXT.search("KeyError: 'timestamp'") and PYTHON_TEXT.search("x: ValueError")
    assert not PYTHON_TEXT.search("Event.System.TimeCreated.SystemTime: required, missing")


@pytest.mark.parametrize("fmt", FORMATS, ids=[f or "detected" for f in FORMATS])
def test_no_python_exception_text_reaches_a_dead_letter(fmt: str | None) -> None:
    """Every fixture, mutated into hostile records, read by every format fixed and by detection."""
    rng = random.Random(hash(fmt) & 0xFFFF)
    normalizer = Normalizer(fmt)
    dead = 0
    for i in range(1_500):
        seed = SEEDS[i % len(SEEDS)]
        payload = seed if i % 5 == 0 else _hostile(rng, seed)  # also foreign records of other formats
        letter = normalizer.normalize(payload, ORIGIN).dead_letter
        if letter is not None:
            dead += 1
            assert letter["reason"] != "parser_error", letter
            assert_clean(letter)
    assert dead > 100


@settings(max_examples=300, deadline=None, database=None)
@given(doc=vendorish, fmt=st.sampled_from(FORMATS))
def test_property_generated_objects_give_clean_dead_letters(doc: dict[str, Any], fmt: str | None) -> None:
    payload = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    letter = Normalizer(fmt).normalize(payload, ORIGIN).dead_letter
    if letter is not None:
        assert letter["reason"] != "parser_error", letter
        assert_clean(letter)


def test_a_parser_bug_is_reported_by_place_not_by_exception_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(doc: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"at": doc["timestamp"]}  # a KeyError on purpose

    fmt = registry.by_name("okta")
    assert isinstance(fmt, registry.JsonFormat)
    patched = registry.JsonFormat(fmt.name, fmt.parser_version, fmt.looks_like, broken)
    monkeypatch.setattr(registry, "JSON_FORMATS", [patched if f.name == "okta" else f for f in registry.JSON_FORMATS])
    payload = b'{"eventType": "user.session.start", "published": "2024-05-01T12:00:00Z", "actor": {}}'
    letter = Normalizer().normalize(payload, ORIGIN).dead_letter
    assert letter is not None and letter["reason"] == "parser_error" and letter["source_format"] == "okta"
    assert_clean(letter)
    assert "test_normalize_errors.py:" in letter["detail"] and "ttpflow bug" in letter["detail"]


# ---------------------------------------------------------------- missing fields name every alternative

MISSING: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "cloudtrail",
        {"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventVersion": "1.08"},
        cloudtrail.TIME_KEYS,
    ),
    ("windows_flat_json", {"EventID": 4688, "Channel": "Security", "Hostname": "ws-01"}, nxlog._TIME_KEYS),
    ("entra_id", {"activityDisplayName": "Add user"}, entra._GRAPH_TIME_KEYS),
    (
        "entra_id",
        {"category": "AuditLogs", "operationName": "Add user", "tenantId": "t", "properties": {}},
        ("time", *(f"properties.{k}" for k in entra._GRAPH_TIME_KEYS)),
    ),
    ("plain_json", {"host": "ws-01"}, ("event_id", "timestamp")),
    ("suricata", {"src_ip": "10.0.0.1"}, ("event_type", "timestamp")),
    ("okta", {"actor": {}}, ("eventType", "published")),
    ("m365", {"Workload": "Exchange"}, ("Operation", "CreationTime")),
    ("auditd_json", {"type": "SYSCALL", "pid": "1"}, ("msg", "raw", "@timestamp", "timestamp")),
    ("auditd_json", {"sequence": 5}, ("timestamp", "messages")),
    ("auditd_json", {"hello": "world"}, ("ID", "messages", "type")),
    ("sentinel", {"Computer": "ws-01"}, ("Type", "TimeGenerated")),
]


@pytest.mark.parametrize(("fmt", "doc", "accepted"), MISSING, ids=[f"{m[0]}-{i}" for i, m in enumerate(MISSING)])
def test_missing_field_names_every_field_accepted(fmt: str, doc: dict[str, Any], accepted: tuple[str, ...]) -> None:
    letter = Normalizer(fmt).normalize(orjson.dumps(doc), ORIGIN).dead_letter
    assert letter is not None and letter["reason"] == "missing_field", letter
    for name in accepted:
        assert name in letter["detail"], (name, letter["detail"])
    assert_clean(letter)
