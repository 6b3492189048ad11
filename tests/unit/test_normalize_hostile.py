"""Hostile input: every class goes to the dead letter with a reason; nothing escapes, nothing is lost."""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config import Limits
from schemas.dead_letter import DeadLetter
from schemas.event import Origin
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import NORMALIZER_VERSION, Normalizer
from udfs.normalize.rawjson import raw_sha256
from udfs.normalize.stats import NormalizeStats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
ORIGIN = Origin(topic="raw", partition=3, offset=1234)
SYSMON_1 = (FIXTURES / "windows_evtx.jsonl").read_bytes().splitlines()[0]
CLOUDTRAIL = (FIXTURES / "cloudtrail.jsonl").read_bytes().splitlines()[0]


def dead(payload: bytes, fmt: str | None = None, limits: Limits | None = None) -> dict[str, Any]:
    normalizer = Normalizer(fmt) if limits is None else Normalizer(fmt, limits=limits)
    outcome = normalizer.normalize(payload, ORIGIN)
    assert outcome.event is None, "expected a dead letter"
    letter = outcome.dead_letter
    assert letter is not None
    DeadLetter.model_validate(letter)
    assert {k: v for k, v in letter["origin"].items() if v is not None} == {
        "topic": "raw",
        "partition": 3,
        "offset": 1234,
    }
    assert letter["parser_version"] == NORMALIZER_VERSION
    assert letter["raw_sha256"] == raw_sha256(payload)
    assert DeadLetter.model_validate(letter).payload() == payload, "raw bytes kept exactly"
    assert letter["detail"]
    return letter


def _mutate_evtx(**system: Any) -> bytes:
    doc = orjson.loads(SYSMON_1)
    doc["Event"]["System"].update(system)
    return orjson.dumps(doc)


HOSTILE = [
    ("not_json", b"this is not json {", "not_json", None),
    ("truncated_json", SYSMON_1[:-7], "not_json", None),
    ("invalid_utf8", b'{"event_id": "e1", "timestamp": "\xff\xfe"}', "invalid_utf8", None),
    ("json_array_top_level", b"[1, 2, 3]", "schema", "$: expected a JSON object"),
    (
        "wrong_type",
        b'{"event_id": "e1", "timestamp": "2024-05-01T12:00:00Z", "host": {"x": 1}}',
        "schema",
        "host: expected a string",
    ),
    ("wrong_type_nested", _mutate_evtx(Computer={"a": 1}), "schema", "Event.System.Computer: expected a string"),
    (
        "missing_required",
        b'{"eventSource": "iam.amazonaws.com", "eventName": "X", "eventVersion": "1.08"}',
        "missing_field",
        "eventTime",
    ),
    ("bad_timestamp", b'{"event_id": "e1", "timestamp": "yesterday-ish"}', "bad_timestamp", "timestamp"),
    (
        "absurd_timestamp_past",
        _mutate_evtx(TimeCreated={"#attributes": {"SystemTime": "1970-01-02T00:00:00Z"}}),
        "schema",
        "timestamp_ms",
    ),
    ("absurd_timestamp_future", b'{"event_id": "e1", "timestamp": "2999-01-01T00:00:00Z"}', "schema", "timestamp_ms"),
    ("negative_epoch", b'{"ts": -5, "uid": "C1", "id.orig_h": "10.0.0.1"}', "bad_timestamp", "ts"),
    (
        "duplicate_keys",
        b'{"event_id": "e1", "event_id": "e2", "timestamp": "2024-05-01T12:00:00Z"}',
        "duplicate_key",
        "event_id",
    ),
    (
        "duplicate_keys_spaced",
        b'{"event_id" : "e1",\n "timestamp": "2024-05-01T12:00:00Z", "event_id" :"e2"}',
        "duplicate_key",
        "event_id",
    ),
    ("deeply_nested", b'{"event_id": "e1", "x": ' + b"[" * 200 + b"]" * 200 + b"}", "too_deep", "deeper"),
    ("huge_array", b'{"event_id": "e1", "x": [' + b",".join([b"1"] * 10_001) + b"]}", "huge_array", "10001"),
    ("unknown_vendor", b'{"vendor": "acme", "when": 1}', "unknown_format", "vendor"),
    ("empty_object", b"{}", "unknown_format", "(none)"),
    ("empty_payload", b"", "not_json", None),
    (
        "port_out_of_range",
        b'{"ts": 1714564800.0, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 70000}',
        "schema",
        "id.orig_p",
    ),
    (
        "bad_technique_id",
        b'{"event_id": "e1", "timestamp": "2024-05-01T12:00:00Z", "attck_technique": "X9"}',
        "schema",
        "technique_ids",
    ),
    ("bad_audit_line", b"type=SYSCALL msg=audit(notatime:1): x=1", "schema", "audit record"),
]


@pytest.mark.parametrize(("name", "payload", "reason", "detail_part"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_each_hostile_class_has_its_reason(name: str, payload: bytes, reason: str, detail_part: str | None) -> None:
    letter = dead(payload)
    assert letter["reason"] == reason, letter
    if detail_part:
        assert detail_part in letter["detail"], letter["detail"]


def test_oversized_uses_the_configured_cap() -> None:
    letter = dead(CLOUDTRAIL, limits=Limits(max_bytes=100))
    assert letter["reason"] == "oversized"
    assert f"{len(CLOUDTRAIL)} bytes, cap is 100" == letter["detail"]


def test_non_utf8_raw_is_kept_as_base64() -> None:
    payload = b"\x00\xff\xfe binary \x80"
    letter = dead(payload)
    assert letter["raw_encoding"] == "base64"
    assert base64.b64decode(letter["raw"]) == payload


def test_schema_dead_letter_names_path_expected_and_got() -> None:
    letter = dead(_mutate_evtx(EventID=[1, 2]))
    assert letter["reason"] == "schema"
    assert letter["detail"] == "Event.System.EventID: expected an event id 0..65535, got [1, 2]"
    assert letter["source_format"] == "windows_evtx_json"


def test_fixed_format_reports_missing_fields_of_that_format() -> None:
    letter = dead(b'{"hello": "world"}', fmt="okta")
    assert letter["reason"] == "missing_field" and letter["source_format"] == "okta"


# ---------------------------------------------------------------- generated hostile records

SEEDS = [line for path in sorted(FIXTURES.glob("*.jsonl")) for line in path.read_bytes().splitlines()]
SEEDS += [line for path in sorted(FIXTURES.glob("*.log")) for line in path.read_bytes().splitlines()]
JUNK: list[Any] = [
    None,
    True,
    -1,
    2**63 - 1,
    1e308,
    "",
    "-",
    "x" * 300,
    [],
    {},
    [{}],
    {"a": [1]},
    "2024-13-45T99:99:99Z",
    "1" * 40,
    "::ffff:999.1.1.1",
    "\u0000",
    "\ud7ff",
    float("1e-300"),
]


def _swap_values(doc: Any, rng: random.Random, depth: int = 0) -> Any:
    """Replace random leaves (and whole sub-objects) with values of the wrong type."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            roll = rng.random()
            if roll < 0.08:
                continue  # drop the key
            out[key] = rng.choice(JUNK) if roll < 0.25 else _swap_values(value, rng, depth + 1)
        return out
    if isinstance(doc, list):
        return [_swap_values(v, rng, depth + 1) for v in doc]
    return doc


def _hostile(rng: random.Random, seed: bytes) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:  # flip bytes
        data = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 1:  # truncate
        return seed[: rng.randrange(len(seed))]
    if kind == 2 and seed.startswith(b"{"):  # wrong types, missing keys
        return orjson.dumps(_swap_values(orjson.loads(seed), rng))
    if kind == 3 and seed.startswith(b"{"):  # duplicate a key
        return seed[:-1] + b"," + seed[1:]
    if kind == 4:  # deep nesting inside a real record
        depth = rng.randint(20, 400)
        return seed[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}" if seed.endswith(b"}") else b"[" * depth
    if kind == 5:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    if kind == 6:  # a time that is not one
        return seed.replace(b"2024-05-01", rng.choice([b"1899-01-01", b"2999-12-31", b"2024-02-30", b"yesterday"]))
    if kind == 7:  # invalid UTF-8 spliced in
        cut = rng.randrange(len(seed))
        return seed[:cut] + b"\xc3\x28" + seed[cut:]
    return seed  # unchanged: these must normalize


def test_fuzz_ten_thousand_hostile_records_nothing_escapes() -> None:
    rng = random.Random(20240501)
    normalizer = Normalizer()
    stats = NormalizeStats()
    escaped: list[str] = []
    total = 12_000
    started = time.perf_counter()
    for i in range(total):
        payload = _hostile(rng, SEEDS[i % len(SEEDS)])
        try:
            outcome = normalizer.normalize(payload, Origin(file="fuzz", line=i + 1))
        except Exception as exc:  # pragma: no cover - this is what the test must never see
            escaped.append(f"{type(exc).__name__}: {exc}")
            continue
        assert (outcome.event is None) != (outcome.dead_letter is None)
        stats.count(outcome)
    reasons = Counter()
    for fmt in stats.formats.values():
        reasons.update(fmt.dead_lettered)
    print(
        f"\nfuzz: {total} hostile records, {stats.normalized} normalized, {stats.dead} dead-lettered, "
        f"{len(escaped)} escaped, {time.perf_counter() - started:.1f}s; reasons: {dict(sorted(reasons.items()))}"
    )
    assert escaped == []
    assert stats.normalized + stats.dead == total == stats.read
    assert reasons["parser_error"] == 0, "a parser raised something other than NormalizeError"
    assert stats.dead > total // 2 and stats.normalized > 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
# Keys the detectors look for, so generated objects reach deep into every parser.
vendorish = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in [
            "Event",
            "winlog",
            "EventID",
            "Channel",
            "Hostname",
            "ts",
            "uid",
            "_path",
            "id.orig_h",
            "event_type",
            "timestamp",
            "src_ip",
            "eventType",
            "published",
            "actor",
            "category",
            "operationName",
            "properties",
            "tenantId",
            "eventSource",
            "eventName",
            "eventTime",
            "userIdentity",
            "ID",
            "SYSCALL",
            "messages",
            "sequence",
            "event_id",
            "result",
        ]
    },
)


@settings(max_examples=800, deadline=None, database=None)
@given(doc=vendorish, raw=st.binary(max_size=80), use_raw=st.booleans())
def test_property_any_input_gives_exactly_one_outcome(doc: dict[str, Any], raw: bytes, use_raw: bool) -> None:
    payload = raw if use_raw else orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    outcome = Normalizer().normalize(payload, ORIGIN)
    assert (outcome.event is None) != (outcome.dead_letter is None)
    if outcome.dead_letter is not None:
        assert outcome.dead_letter["reason"] != "parser_error", outcome.dead_letter
        assert DeadLetter.model_validate(outcome.dead_letter).payload() == payload


def test_seeds_cover_every_fixture_format() -> None:
    formats = {Normalizer().normalize(s, ORIGIN).source_format for s in SEEDS}
    assert len(formats) >= 11 and None not in formats
    assert len(list(iter_records(FIXTURES / "cloudtrail_records.json"))) == 3
