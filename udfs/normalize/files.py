"""Records from files, for ``ttpflow normalize``/``replay`` and the job's file mode.

One generic reader for every format:

- lines (JSON lines, ``audit.log``, syslog): each non-blank line is a record, its bytes exactly as in
  the file (only the line terminator is removed); ``Origin.line`` is the line number;
- a JSON array file: each element, re-serialized, is a record; ``line`` is its index + 1;
- a CloudTrail file ``{"Records": [...]}`` (whole file, or one such object per line): each record,
  re-serialized; ``line`` is its index + 1 (or the line number of the line that held it);
- pretty-printed or concatenated JSON objects (``evtx_dump -o json`` with its ``Record N`` headers):
  each object's exact bytes; ``line`` is the line it starts on.

``.gz`` files are read through gzip.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from schemas.event import Origin

Record = tuple[bytes, Origin]

_RECORDS_LINE = re.compile(rb'^\s*\{\s*"Records"\s*:')
_RECORD_HEADER = re.compile(r"Record \d+\s*\n")  # evtx_dump's separator between pretty-printed records


class RecordFileError(ValueError):
    """A file whose container (array, concatenated JSON) cannot be read; names file and position."""


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_records(path: str | Path) -> Iterator[Record]:
    path = Path(path)
    name = str(path)
    with _open(path) as fh:
        head = fh.read(4096)
        first = head.lstrip()[:1]
        fh.seek(0)
        if first == b"[":
            yield from _array(fh.read(), name)
            return
        if first == b"{" and not _first_line_is_json(head):
            yield from _concatenated(fh.read(), name)
            return
        if first == b"R" and _RECORD_HEADER.match(head.lstrip().decode("utf-8", "replace")):
            yield from _concatenated(fh.read(), name)
            return
        yield from _lines(fh, name)


def _first_line_is_json(head: bytes) -> bool:
    line = head.lstrip().split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _lines(fh: IO[bytes], name: str) -> Iterator[Record]:
    for number, raw in enumerate(fh, start=1):
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        if _RECORDS_LINE.match(line):
            split = _split_records(line)
            if split is not None:
                for payload in split:
                    yield payload, Origin(file=name, line=number)
                continue
        yield line, Origin(file=name, line=number)


def _split_records(blob: bytes) -> list[bytes] | None:
    """Each element of a CloudTrail ``Records`` array as its own payload, or None if not such a file."""
    try:
        doc = orjson.loads(blob)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
        return None
    return [orjson.dumps(item) for item in doc["Records"]]


def _array(blob: bytes, name: str) -> Iterator[Record]:
    try:
        items = orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise RecordFileError(f"{name}: not a valid JSON array ({exc})") from None
    for index, item in enumerate(items):
        yield orjson.dumps(item), Origin(file=name, line=index + 1)


def _concatenated(blob: bytes, name: str) -> Iterator[Record]:
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordFileError(f"{name}: byte {exc.start} is not UTF-8, cannot split JSON objects") from None
    decoder = json.JSONDecoder()
    pos, length = 0, len(text)
    objects: list[tuple[int, int]] = []
    while pos < length:
        while pos < length and text[pos].isspace():
            pos += 1
        header = _RECORD_HEADER.match(text, pos)
        if header:
            pos = header.end()
            continue
        if pos >= length:
            break
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, pos) + 1
            raise RecordFileError(f"{name}: line {line}: not a JSON object ({exc.msg})") from None
        objects.append((pos, end))
        pos = end
    if len(objects) == 1:
        whole = text[objects[0][0] : objects[0][1]].encode("utf-8")
        split = _split_records(whole)
        if split is not None:
            for index, payload in enumerate(split):
                yield payload, Origin(file=name, line=index + 1)
            return
    line, seen = 1, 0
    for start, end in objects:
        line += text.count("\n", seen, start)  # counted incrementally: files hold thousands of records
        seen = start
        yield text[start:end].encode("utf-8"), Origin(file=name, line=line)
