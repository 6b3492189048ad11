"""File reader, `ttpflow normalize`, replay's record decoding, and the counters."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import orjson
import pytest

from jobs.cli import main
from jobs.commands.replay import ReplayInputError, dead_letter_payload, iter_payloads
from schemas.event import Origin
from udfs.normalize.files import RecordFileError, iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.stats import NormalizeStats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"


def test_json_lines_are_bytes_exact_with_line_numbers(tmp_path: Path) -> None:
    lines = [b'{"b": 1,  "a": "\\u00e9"}', b"", b'{"x":  2}\r']
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = list(iter_records(path))
    assert [p for p, _ in got] == [lines[0], b'{"x":  2}']
    assert [o.line for _, o in got] == [1, 3]
    assert got[0][1].file == str(path)


def test_array_records_and_gzip(tmp_path: Path) -> None:
    arr = tmp_path / "a.json"
    arr.write_bytes(b'[\n {"a": 1},\n {"b": 2}\n]')
    assert [(p, o.line) for p, o in iter_records(arr)] == [(b'{"a":1}', 1), (b'{"b":2}', 2)]
    gz = tmp_path / "c.json.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "cloudtrail_records.json").read_bytes()))
    assert [o.line for _, o in iter_records(gz)] == [1, 2, 3]


def test_records_line_and_pretty_concatenated_objects(tmp_path: Path) -> None:
    one_line = tmp_path / "ct.jsonl"
    one_line.write_bytes(b'{"Records": [{"a": 1}, {"a": 2}]}\n{"Records": [{"a": 3}]}\n')
    assert [(p, o.line) for p, o in iter_records(one_line)] == [(b'{"a":1}', 1), (b'{"a":2}', 1), (b'{"a":3}', 2)]
    pretty = tmp_path / "evtx.json"
    pretty.write_bytes(b'Record 1\n{\n  "a": 1\n}\nRecord 2\n{\n  "b": 2\n}\n')
    assert [(p, o.line) for p, o in iter_records(pretty)] == [(b'{\n  "a": 1\n}', 2), (b'{\n  "b": 2\n}', 6)]


def test_broken_container_is_read_as_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'[{"a": 1}, {"b": ')
    assert [(p, o.line) for p, o in iter_records(bad)] == [(b'[{"a": 1}, {"b": ', 1)]


def test_a_gz_file_that_is_not_gzip_names_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b'{"a": 1}\n')
    with pytest.raises(RecordFileError, match=r"fake\.jsonl\.gz: not a readable gzip file"):
        list(iter_records(fake))


def test_normalize_command_prints_events_and_summary(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_bytes((FIXTURES / "zeek.jsonl").read_bytes() + b"not json\n" + b'{"who": "knows"}\n')
    dead = tmp_path / "dead.jsonl"
    assert main(["normalize", str(src), str(FIXTURES / "auditd.log"), "--dead-letter", str(dead)]) == 0
    out, err = capsysbinary.readouterr()
    events = [orjson.loads(line) for line in out.splitlines()]
    assert len(events) == 12 + 7
    summary = err.decode()
    assert "zeek" in summary and "undetected" in summary and "not_json=1" in summary and "unknown_format=1" in summary
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [dl["origin"]["line"] for dl in letters] == [13, 14]


def test_normalize_command_and_normalizer_agree(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = FIXTURES / "windows_evtx.jsonl"
    assert main(["normalize", str(path), "--format", "windows_evtx_json"]) == 0
    out, _ = capsysbinary.readouterr()
    direct = [Normalizer("windows_evtx_json").normalize(p, o).event for p, o in iter_records(path)]
    assert [orjson.loads(line) for line in out.splitlines()] == direct


def test_normalize_command_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["normalize", "/nonexistent.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["normalize", str(FIXTURES / "zeek.jsonl"), "--format", "zeeek"]) == 2
    assert "known formats" in capsys.readouterr().err


def _letter(payload: bytes) -> bytes:
    outcome = Normalizer().normalize(payload, Origin(topic="raw", partition=0, offset=9))
    assert outcome.dead_letter is not None
    return orjson.dumps(outcome.dead_letter)


def test_replay_gives_back_the_original_bytes() -> None:
    for payload in (b'{"vendor": "acme"}', b"\xff\xfe not utf-8", b"plain text line"):
        assert dead_letter_payload(_letter(payload), "dl:1") == payload


def test_replay_refuses_edited_or_foreign_lines() -> None:
    letter = orjson.loads(_letter(b'{"vendor": "acme"}'))
    letter["raw"] = '{"vendor": "evil"}'
    with pytest.raises(ReplayInputError, match="raw_sha256"):
        dead_letter_payload(orjson.dumps(letter), "dl:3")
    with pytest.raises(ReplayInputError, match="dl:4: not a dead letter"):
        dead_letter_payload(b'{"event_id": "e1"}', "dl:4")
    with pytest.raises(ReplayInputError, match="not JSON"):
        dead_letter_payload(b"{", "dl:5")
    letter = orjson.loads(_letter(b"\xff\xfe"))
    letter["raw"] = "!!!" + base64.b64encode(b"x").decode()
    with pytest.raises(ReplayInputError, match="dl:6"):
        dead_letter_payload(orjson.dumps(letter), "dl:6")


def test_replay_payloads_from_files_and_dead_letters(tmp_path: Path) -> None:
    dl = tmp_path / "dead.jsonl"
    dl.write_bytes(_letter(b"not json at all") + b"\n\n" + _letter(b"\x00\x01") + b"\n")
    payloads = list(iter_payloads([str(FIXTURES / "okta.jsonl")], [str(dl)]))
    assert payloads[:3] == (FIXTURES / "okta.jsonl").read_bytes().splitlines()
    assert payloads[3:] == [b"not json at all", b"\x00\x01"]


def test_stats_count_per_format_and_reason() -> None:
    stats = NormalizeStats()
    normalizer = Normalizer()
    for payload, origin in iter_records(FIXTURES / "suricata.jsonl"):
        stats.count(normalizer.normalize(payload, origin))
    stats.count(normalizer.normalize(b'{"ts": "never", "uid": "C1"}', Origin()))
    stats.count(normalizer.normalize(b"garbage", Origin()))
    assert stats.metrics() == {
        "normalize.suricata.normalized": 6,
        "normalize.suricata.read": 6,
        "normalize.undetected.dead_letter.not_json": 1,
        "normalize.undetected.normalized": 0,
        "normalize.undetected.read": 1,
        "normalize.zeek.dead_letter.bad_timestamp": 1,
        "normalize.zeek.normalized": 0,
        "normalize.zeek.read": 1,
    }
    assert stats.read == stats.normalized + stats.dead == 8
