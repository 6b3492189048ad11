"""No single record stops the job: dead letters always fit the sink, and so do signals and alerts.

A 3 MB record used to become a 3 MB dead letter that the dead-letter topic's producer refused
(RecordTooLargeException), failing the job on the same record until its restarts ran out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.cli import main
from jobs.commands.replay import ReplayInputError, dead_letter_payload, iter_payloads
from schemas.config import DEFAULT_DEAD_LETTER_MAX_BYTES, JobConfig
from schemas.dead_letter import MAX_DETAIL_CHARS, DeadLetter, base64_size
from schemas.event import Origin
from udfs.analyze import COLUMNS
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.rawjson import raw_sha256
from udfs.sink_limits import SinkLimits

ORIGIN = Origin(topic="raw", partition=0, offset=7)
KAFKA_RECORD_LIMIT = 1_048_576  # the producer's default max.request.size
ENVELOPE = 4096  # reason, detail (capped), origin, hashes, field names


def letter_of(payload: bytes, max_raw_bytes: int = DEFAULT_DEAD_LETTER_MAX_BYTES, detail: str = "d") -> DeadLetter:
    return DeadLetter.of(payload, reason="not_json", detail=detail, origin=ORIGIN, parser_version="t/1",
                         raw_sha256=raw_sha256(payload), max_raw_bytes=max_raw_bytes)


def test_a_payload_under_the_cap_is_kept_whole() -> None:
    payload = b'{"event_id": "e", "x": "\xff"}'
    letter = letter_of(payload)
    assert not letter.truncated
    assert letter.payload() == payload
    assert letter.length == len(payload) and letter.sha256 == hashlib.sha256(payload).hexdigest()
    assert letter.raw_sha256 == letter.sha256[:16]


@pytest.mark.parametrize("payload", [
    b'{"event_id": "big", "pad": "' + b"a" * 3_000_000 + b'"}',  # text
    b'{"pad": "' + "é".encode() * 1_500_000 + b'"}',  # multi-byte characters, cut mid-character
    bytes(range(256)) * 12_000,  # binary: base64
    b"\x01" * 3_000_000,  # control characters: 6 bytes each as JSON text, so base64
    b'"' * 3_000_000,  # quotes: 2 bytes each as JSON text
])
def test_a_3mb_payload_keeps_a_prefix_its_length_and_sha256_and_fits_kafka(payload: bytes) -> None:
    letter = letter_of(payload)
    kept = letter.payload()
    assert letter.truncated
    assert payload.startswith(kept) and DEFAULT_DEAD_LETTER_MAX_BYTES - 3 <= len(kept) <= DEFAULT_DEAD_LETTER_MAX_BYTES
    assert letter.length == len(payload)
    assert letter.sha256 == hashlib.sha256(payload).hexdigest()
    size = len(orjson.dumps(letter.model_dump(mode="json")))
    assert size <= base64_size(DEFAULT_DEAD_LETTER_MAX_BYTES) + ENVELOPE < KAFKA_RECORD_LIMIT


def test_a_long_detail_is_capped() -> None:
    letter = letter_of(b"x", detail="y" * 50_000)
    assert len(letter.detail) == MAX_DETAIL_CHARS and letter.detail.endswith("...")


@settings(max_examples=500, deadline=None, database=None)
@given(payload=st.one_of(st.binary(max_size=200), st.text(max_size=120).map(str.encode)),
       cap=st.integers(min_value=1, max_value=150))
def test_property_the_kept_bytes_are_a_prefix_and_raw_fits_the_bound(payload: bytes, cap: int) -> None:
    letter = letter_of(payload, cap)
    again = DeadLetter.model_validate(orjson.loads(orjson.dumps(letter.model_dump(mode="json"))))
    kept = again.payload()
    assert again.truncated == (len(payload) > cap)
    if again.truncated:
        assert payload.startswith(kept) and cap - 3 <= len(kept) <= cap
    else:
        assert kept == payload
    assert len(orjson.dumps(again.raw)) - 2 <= base64_size(cap)
    assert again.length == len(payload) and again.sha256 == hashlib.sha256(payload).hexdigest()


def test_the_normalizer_truncates_at_its_configured_size() -> None:
    payload = b'{"event_id": "e", ' + b"x" * 5000
    letter = Normalizer(dead_letter_max_bytes=1000).normalize(payload, ORIGIN).dead_letter
    assert letter is not None and letter["reason"] == "not_json"
    assert letter["truncated"] and letter["length"] == len(payload) and len(letter["raw"]) == 1000


def test_schema_1_letters_still_read() -> None:
    old = {"schema_version": 1, "reason": "not_json", "detail": "d", "parser_version": "p", "raw_encoding": "utf-8",
           "raw": "abc", "raw_sha256": raw_sha256(b"abc"), "origin": {"topic": "t"}}
    assert dead_letter_payload(orjson.dumps(old), "dl:1") == b"abc"


# -- replay ------------------------------------------------------------------------------------------


def _line(payload: bytes, cap: int) -> bytes:
    return orjson.dumps(letter_of(payload, cap).model_dump(mode="json"))


def test_replay_refuses_a_truncated_letter_unless_told() -> None:
    payload = b"z" * 300
    line = _line(payload, 100)
    with pytest.raises(ReplayInputError, match=r"dl:2: a truncated dead letter: it kept the first 100 of 300 bytes.*"
                                                r"--truncated"):
        dead_letter_payload(line, "dl:2")
    assert dead_letter_payload(line, "dl:2", "skip") is None
    assert dead_letter_payload(line, "dl:2", "prefix") == payload[:100]
    assert dead_letter_payload(_line(payload, 300), "dl:3") == payload  # whole: replayed as before


def test_replay_refuses_an_edited_truncated_letter() -> None:
    letter = orjson.loads(_line(b"z" * 300, 100))
    letter["length"] = 50
    with pytest.raises(ReplayInputError, match="edited"):
        dead_letter_payload(orjson.dumps(letter), "dl:4", "prefix")


def test_replay_stops_on_a_truncated_letter_before_connecting(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    dead = tmp_path / "dead.jsonl"
    dead.write_bytes(_line(b"ok", 100) + b"\n" + _line(b"z" * 300, 100) + b"\n")
    # no broker at this address: the refusal comes from reading, before anything is sent
    assert main(["replay", "--dead-letter", str(dead), "--topic", "t", "--bootstrap-servers", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert f"{dead}:2: a truncated dead letter" in err and "--truncated skip" in err


def test_replay_reads_a_file_whose_first_line_is_hostile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    lines = [b"[1, 2, 3]", b'{"event_id": "\xff"}', b'{"event_id": "e2"}']
    src.write_bytes(b"\n".join(lines) + b"\n")
    notes: list[str] = []
    assert list(iter_payloads([str(src)], [], note=notes.append)) == lines
    assert notes and "read as lines" in notes[0]


# -- signals, late and alerts ---------------------------------------------------------------------


def _hit_row(signal: str, host: str = "h") -> tuple[object, ...]:
    # the analyzed row's layout: kind, ts, id, val, rule_id, tags, keys, own/hit host, user, ..., ev, signal
    row = ("hit", 1, "id", None, "rule-1", ["t"], {"k": "v"}, host, host, host, None, None,
           *([None] * (len(COLUMNS) - 14)), "{}", signal)
    assert len(row) == len(COLUMNS)
    return row


def test_sink_limits_name_the_output_and_the_size() -> None:
    limits = SinkLimits.of(JobConfig(output_max_bytes=10_000))
    assert limits.check([_hit_row("s" * 9_000)]) is None
    assert "the signal of rule rule-1 would be 10001 bytes, cap is 10000" in (limits.check([_hit_row("s" * 10_001)])
                                                                                 or "")
    why = limits.check([("fact", 1, "ip:x", "h" * 20_000, *([None] * 22)), _hit_row("{}", host="h" * 200)])
    assert why is not None and "the hit of rule rule-1 carries" in why  # facts are not checked: they stay in state
    assert limits.check([_hit_row("é" * 2_600)]) is None
    assert limits.check([_hit_row("é" * 5_100)]) is not None  # counted in UTF-8 bytes, not characters


def test_an_event_too_large_for_the_signals_topic_is_dead_lettered_not_emitted() -> None:
    from udfs.analyze import Analyzer  # loads the bundled rules

    analyzer = Analyzer(JobConfig())
    base = {"event_id": "e", "timestamp": "2024-05-01T10:00:00Z", "attck_technique": "T1055"}
    fine = analyzer.analyze("kafka", "raw", 0, 1, orjson.dumps({**base, "host": "h", "command_line": "x" * 400_000}))
    assert fine.dead_letter is None and any(row[0] == "hit" for row in fine.rows)
    payload = orjson.dumps({**base, "host": "h", "command_line": "x" * 1_000_000})
    out = analyzer.analyze("kafka", "raw", 0, 2, payload)
    assert out.rows == [] and out.reason == "oversized_output"
    letter = orjson.loads(out.dead_letter or "{}")
    assert "the signal of rule" in letter["detail"] and letter["source_format"] == "plain_json"
    assert letter["truncated"] and letter["length"] == len(payload)
    huge_host = analyzer.analyze("kafka", "raw", 0, 3, orjson.dumps({**base, "host": "h" * 40_000}))
    assert huge_host.reason == "oversized_output" and "names and evidence" in (huge_host.dead_letter or "")
