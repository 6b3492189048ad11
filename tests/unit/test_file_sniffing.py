"""Whatever the bytes of a file, every line is accounted for: no first line can reject a file.

A file is read as a container (a JSON array, concatenated objects) only if all of it is one;
otherwise it is lines, each non-blank line one record with its line number, and a line is one
record even when it holds a JSON array (as one Kafka record would be).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.normalize.files import iter_records, sniff

# Lines a hostile or careless producer writes: valid and broken JSON, arrays, bare brackets,
# CloudTrail Records lines (empty ones too), evtx_dump headers, invalid UTF-8, NULs, CRs.
LINE_PARTS = [
    b'{"event_id": "e1", "timestamp": "2024-05-01T10:00:00Z", "host": "h"}',
    b'{"a": [1, 2, {"b": "]"}]}', b"[1, 2, 3]", b'[{"a": 1}, {"b": 2}]', b"[", b"]", b"{", b"}", b",",
    b'{"Records": [{"eventName": "x"}, {"eventName": "y"}]}', b'{"Records": []}', b"Record 1",
    b'{"event_id": "x", "host": "\xff\xfe"}', b"\xff\xfe\xfd", b"\x00\x01", b'"a string"', b"null",
    b"type=SYSCALL msg=audit(1714557600.000:1): syscall=59", b'{"a": "unterminated', b"  ", b"",
    b"\r", b'{"a": 1}\r', b"[1,]", b"NaN", b'{"a": 1} {"b": 2}',
]

line = st.one_of(st.sampled_from(LINE_PARTS), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")))
lines = st.lists(line, min_size=1, max_size=12)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # orjson re-serializes wider ones as floats


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "input.jsonl"
    path.write_bytes(data)
    return path


def _non_blank(data: bytes) -> dict[int, bytes]:
    out = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw[:-1] if raw.endswith(b"\r") else raw
        if text.strip():
            out[number] = text
    return out


def _check_accounted(path: Path, data: bytes) -> None:
    shape = sniff(path).shape
    records = list(iter_records(path))  # never raises, whatever the bytes
    if shape == "lines":
        wanted = _non_blank(data)
        got: dict[int, list[bytes]] = {}
        for payload, origin in records:
            assert origin.line is not None
            got.setdefault(origin.line, []).append(payload)
        assert set(got) == set(wanted), "every non-blank line, and nothing else, gives records"
        for number, payloads in got.items():
            if len(payloads) > 1 or payloads[0] != wanted[number]:  # only a CloudTrail line splits
                assert isinstance(orjson.loads(wanted[number]).get("Records"), list)
    elif shape == "array":
        assert data.strip()[:1] == b"[" and data.strip()[-1:] == b"]"
        try:
            whole = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # elements that are not JSON alone are passed on as their bytes
        assert [p for p, _ in records] == [orjson.dumps(item) for item in whole]
    else:
        assert shape == "objects"
        assert records, "a file of concatenated objects holds at least one"
        last = data.count(b"\n") + 1
        assert all(1 <= (o.line or 0) <= max(last, len(records)) for _, o in records)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=lines, crlf=st.booleans())
def test_property_every_line_is_accounted_for(tmp_path: Path, parts: list[bytes], crlf: bool) -> None:
    data = (b"\r\n" if crlf else b"\n").join(parts)
    _check_accounted(_write(tmp_path, data), data)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_property_any_bytes_read_without_error(tmp_path: Path, data: bytes) -> None:
    _check_accounted(_write(tmp_path, data), data)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.one_of(INT64, st.text(max_size=8), st.dictionaries(st.text(max_size=4), INT64, max_size=3)),
                      max_size=6),
       indent=st.sampled_from([None, 1, 2]), tail=st.sampled_from([b"", b"\n", b"\n\n  "]))
def test_property_a_whole_file_array_splits_into_its_elements(tmp_path: Path, items: list[object],
                                                             indent: int | None, tail: bytes) -> None:
    data = json.dumps(items, indent=indent).encode() + tail
    path = _write(tmp_path, data)
    assert sniff(path).shape == "array"
    assert [p for p, _ in iter_records(path)] == [orjson.dumps(item) for item in items]


@pytest.mark.parametrize("first", [
    b"[1, 2, 3]",  # an array line first
    b'[{"event_id": "a"}, {"event_id": "b"}]',
    b'{"event_id": "x", "host": "\xff"}',  # invalid UTF-8 in the first line
    b'\xff\xfe{"event_id": "x"}',
    b'{"event_id": "y", "timestamp": "2024-05-01T10:',  # a truncated object
    b"[",
])
def test_a_hostile_first_line_does_not_reject_the_file(tmp_path: Path, first: bytes) -> None:
    rest = [b'{"event_id": "e2", "host": "h"}', b"", b"[4, 5]", b'{"event_id": "e3", "host": "h"}']
    data = b"\n".join([first, *rest]) + b"\n"
    path = _write(tmp_path, data)
    assert sniff(path).shape == "lines"
    assert [(o.line, p) for p, o in iter_records(path)] == [
        (1, first), (2, rest[0]), (4, rest[2]), (5, rest[3])]


def test_a_huge_array_line_is_one_record(tmp_path: Path) -> None:
    # 500,000 elements on the first line of a JSON-lines file: one record, as the job reads one
    # Kafka record, not 500,000.
    big = b"[" + b",".join([b"1"] * 500_000) + b"]"
    path = _write(tmp_path, big + b'\n{"event_id": "e2"}\n')
    got = list(iter_records(path))
    assert [(o.line, len(p)) for p, o in got] == [(1, len(big)), (2, len(b'{"event_id": "e2"}'))]


def test_a_long_first_object_line_still_reads_as_lines(tmp_path: Path) -> None:
    # A first line longer than the sniffing head (1 MiB) is decided by the whole-file scan.
    long_line = orjson.dumps({"event_id": "a", "pad": "x" * (1 << 20)})
    data = long_line + b"\n" + b'{"event_id": "b"}\n' + b"not json\n"
    path = _write(tmp_path, data)
    assert sniff(path).shape == "lines"
    assert [o.line for _, o in iter_records(path)] == [1, 2, 3]
