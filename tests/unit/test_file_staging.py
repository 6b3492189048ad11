"""A file run's staging (jobs.staging): bytes and origins kept, memory bounded, outputs gathered in order."""

from __future__ import annotations

import io
import json
import random
import tracemalloc
from pathlib import Path

import orjson
import pytest

import udfs.normalize.files as files
from jobs.staging import alert_order, decode_staged_line, gather, part_files, sorted_lines, stage
from udfs.normalize.files import iter_records

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "normalize"
EVENT = {"event_id": "e", "timestamp": "2024-05-01T10:00:00Z", "host": "ws-1", "process_name": "rundll32.exe",
         "command_line": "rundll32.exe " + "x" * 300, "attck_technique": "T1055"}


def _staged(paths: list[Path], tmp_path: Path) -> list[tuple[str, str, int, int, bytes]]:
    target = tmp_path / "staged.jsonl"
    count = stage(paths, target)
    rows = [decode_staged_line(line) for line in target.read_bytes().splitlines()]
    assert count == len(rows)
    return rows


def test_staging_keeps_every_payload_byte_and_its_origin(tmp_path: Path) -> None:
    lines = tmp_path / "mixed.jsonl"
    lines.write_bytes(b'{"a": 1}\n\xff\xfe not utf-8 \x00\n\n{"b":  "\\u00e9"}\r\nnot json\n')
    array = tmp_path / "array.json"
    array.write_bytes(b'[{"event_id": "x1"},\n {"bad": "\xff"},\n {"c": [1, {"d": "]},"}]}]')
    inputs = [lines, array, FIXTURES / "cloudtrail_records.json", FIXTURES / "zeek.jsonl"]
    expected = [("file", str(p), -1, o.line, payload) for path in inputs for payload, o in iter_records(path)
                for p in [path]]
    assert _staged(inputs, tmp_path) == expected
    assert [row[3:] for row in expected[:6]] == [
        (1, b'{"a": 1}'), (2, b"\xff\xfe not utf-8 \x00"), (4, b'{"b":  "\\u00e9"}'), (5, b"not json"),
        (1, b'{"event_id":"x1"}'), (2, b'{"bad": "\xff"}'),  # not valid JSON alone: its exact bytes
    ]


def test_a_file_name_that_needs_escaping_stays_the_same(tmp_path: Path) -> None:
    odd = tmp_path / 'a "quoted"\tname é.jsonl'
    odd.write_bytes(b'{"a": 1}\n')
    assert _staged([odd], tmp_path)[0][1] == str(odd)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_staging_a_large_file_holds_one_record_at_a_time(tmp_path: Path) -> None:
    line = orjson.dumps(EVENT) + b"\n"
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:
        for _ in range(50_000_000 // len(line) // 1000):
            fh.write(line * 1000)
    assert big.stat().st_size > 45_000_000
    counted: list[int] = []
    peak = _peak_bytes(lambda: counted.append(stage([big], tmp_path / "staged.jsonl")))
    assert counted == [big.stat().st_size // len(line)]
    assert peak < 4_000_000, f"staging a {big.stat().st_size >> 20} MB file peaked at {peak >> 20} MB"


def test_json_arrays_and_cloudtrail_files_stream_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the reader holds of a container file is its window (one record and a chunk); the records
    # themselves are handed on one at a time. A 20 MB file through a window of at most two chunks:
    widest = [0]
    fill = files._Window.fill

    def watched(window: files._Window, keep: int) -> bool:
        more = fill(window, keep)
        widest[0] = max(widest[0], len(window.buf))
        return more

    monkeypatch.setattr(files._Window, "fill", watched)
    element = orjson.dumps(EVENT)
    n = 20_000_000 // len(element)
    array = tmp_path / "big.json"
    array.write_bytes(b"[\n" + b",\n".join([element] * n) + b"\n]\n")
    trail = tmp_path / "trail.json"
    trail.write_bytes(b'{"Records": [' + b",".join([element] * n) + b"]}")
    for path in (array, trail):
        widest[0] = 0
        assert sum(1 for _ in iter_records(path)) == n
        assert widest[0] <= 2 * files._CHUNK, f"{path.name}: a {widest[0] >> 10} kB window"
    # and a record longer than a chunk widens it only as far as that record
    monkeypatch.setattr(files, "_CHUNK", 1000)
    long_one = orjson.dumps({**EVENT, "command_line": "y" * 50_000})
    array.write_bytes(b"[" + b",".join([element] * 100 + [long_one] + [element] * 100) + b"]")
    widest[0] = 0
    assert [len(p) for p, _ in iter_records(array)].count(len(long_one)) == 1
    assert len(long_one) <= widest[0] < 4 * len(long_one)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_streamed_containers_match_whole_file_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      chunk: int) -> None:
    monkeypatch.setattr(files, "_CHUNK", chunk)
    rng = random.Random(chunk)

    def value(depth: int = 0):
        pick = rng.random()
        if depth > 3 or pick < 0.3:
            return rng.choice([1, -2.5, 'q"u]o,t}e{', None, True, "é", "\\", ""])
        if pick < 0.6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}": value(depth + 1) for i in range(rng.randrange(4))}

    for round_ in range(30):
        items = [value() for _ in range(rng.randrange(6))]
        array = tmp_path / f"a{round_}.json"
        array.write_text(json.dumps(items, indent=rng.choice([None, 1])))
        assert [p for p, _ in iter_records(array)] == [orjson.dumps(item) for item in items]
        objects = [{"n": i, "v": value()} for i in range(1, rng.randrange(2, 6))]
        pretty = tmp_path / f"p{round_}.json"
        texts = [json.dumps(o, indent=2) for o in objects]
        pretty.write_text("".join(f"Record {o['n']}\n{t}\n" for o, t in zip(objects, texts, strict=True)))
        got = list(iter_records(pretty))
        assert [p for p, _ in got] == [t.encode() for t in texts]
        starts = [pretty.read_text().splitlines().index(t.splitlines()[0], 0) + 1 for t in texts[:1]]
        assert got[0][1].line == starts[0]


def test_concatenated_objects_keep_their_bytes_and_cloudtrail_objects_split(tmp_path: Path) -> None:
    path = tmp_path / "objects.json"
    path.write_bytes(b'{\n  "a": "\xff"\n}\nRecord 2\n{\n "Records": [{"b": 1},\n {"b": "\xfe"}]\n}\n')
    assert [(p, o.line) for p, o in iter_records(path)] == [
        (b'{\n  "a": "\xff"\n}', 1), (b'{"b":1}', 1), (b'{"b": "\xfe"}', 2)]


@pytest.mark.parametrize(
    ("blob", "match"),
    [(b'[{"a": 1}, {"b": ', "not closed"), (b"[1,]", "element 2 is empty"), (b"[1] [2]", "after the array"),
     (b'{\n"a": 1\n}\n\ngarbage\n', "line 5: not a JSON object"), (b'{\n"a": "x\n', "not closed")],
)
def test_broken_containers_are_read_as_lines_and_say_why(tmp_path: Path, blob: bytes, match: str) -> None:
    # Not a container as a whole: every non-blank line is a record (normalize dead-letters the
    # fragments with their line numbers), and the note names the file and the place.
    path = tmp_path / "broken.json"
    path.write_bytes(blob)
    notes: list[str] = []
    got = list(iter_records(path, note=notes.append))
    lines = blob.split(b"\n")
    assert [(p, o.line) for p, o in got] == [(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    assert len(notes) == 1 and match in notes[0] and str(path) in notes[0], notes


def test_outputs_are_gathered_in_part_order_and_alerts_sorted(tmp_path: Path) -> None:
    out = tmp_path / "signals"
    out.mkdir()
    writer = "296e9a60-c36e-47b0-af12-f133835264e9"
    (out / f"signals-{writer}-10.jsonl").write_bytes(b"c\n")
    (out / f"signals-{writer}-2.jsonl").write_bytes(b"a\nb")
    assert [p.name for p in part_files(out)] == [f"signals-{writer}-2.jsonl", f"signals-{writer}-10.jsonl"]
    sink = io.BytesIO()
    assert gather(out, sink) == 3
    assert sink.getvalue() == b"a\nb\nc\n"
    (out / f".signals-{writer}-11.jsonl.inprogress.0b3c").write_bytes(b"d\n")
    with pytest.raises(RuntimeError, match="unfinished"):
        part_files(out)
    assert part_files(tmp_path / "never-written") == []


def test_alerts_sort_by_first_seen_then_id_in_bounded_runs(tmp_path: Path) -> None:
    rng = random.Random(1)
    alerts = [orjson.dumps({"id": f"a{i:04d}", "first_seen_ms": rng.randrange(50)}) + b"\n" for i in range(500)]
    expected = sorted(alerts, key=alert_order)
    assert list(sorted_lines(iter(alerts), alert_order, tmp_path, run_bytes=2_000)) == expected
    assert list(sorted_lines(iter(alerts), alert_order, tmp_path)) == expected
    assert [orjson.loads(a)["first_seen_ms"] for a in expected] == sorted(orjson.loads(a)["first_seen_ms"]
                                                                          for a in alerts)
