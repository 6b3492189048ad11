"""The fast validation path emits exactly what ``Event.model_validate(...).to_record()`` would."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.event import Event, Origin
from udfs.normalize import draft, registry
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".jsonl", ".log", ".json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_record_equals_model_round_trip(path: Path) -> None:
    for payload, origin in iter_records(path):
        event = Normalizer().normalize(payload, origin).event
        assert event is not None
        reference = Event.model_validate(event).to_record()
        assert event == reference
        assert list(event) == list(reference), "same field order as to_record"


def test_mirror_enforces_the_model_rules() -> None:
    base = {
        "timestamp_ms": 1714564800000,
        "source_format": "x",
        "parser_version": "x/1",
        "raw_sha256": "ab",
        "origin": Origin(),
    }
    assert draft.finish(dict(base))["event"] == {"kind": "event", "category": [], "type": []}
    for bad in (
        {"host": {"criticality": 11}},
        {"source": {"port": 70000}},
        {"host": {"nope": 1}},
        {"timestamp_ms": 5},
        {"threat": {"technique_ids": ["X1"]}},
        {"event": {"outcome": "maybe"}},
        {"user": {"target": {"privileged": "very"}}},
    ):
        with pytest.raises(ValueError):
            draft.finish({**base, **bad})


def test_mirror_normalizes_like_the_model() -> None:
    base = {"timestamp_ms": 1714564800000, "source_format": "x", "parser_version": "x/1", "raw_sha256": "ab"}
    record = draft.finish({**base, "threat": {"technique_ids": ["t1059.001", "T1059.001"]}, "host": {"name": None}})
    assert record["threat"] == {"technique_ids": ["T1059.001"]}
    assert record["host"] == {"ip": []}


def test_every_format_is_registered_once() -> None:
    names = registry.names()
    assert len(names) == len(set(names))
    assert names[-3:] == ["plain_json", "sysmon_linux", "auditd"], "generic JSON shapes detect last"
