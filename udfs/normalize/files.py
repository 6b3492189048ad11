"""Records from files, for ``ttpflow normalize``/``replay`` and the job's file mode.

One generic reader for every format, streaming: it holds one record (and a read chunk) at a time,
never the file, so a file of any size reads in bounded memory. One record is what the job would
read as one Kafka record: a line of a JSON-lines file, or an element of a whole-file container.

The shape of a file is sniffed from its start and then confirmed over the whole file
(:func:`sniff`), so that no first line can reject the file: a file is read as a container only if
all of it is one; anything else is read as lines, and every non-blank line is a record (a line
that is not valid on its own becomes a dead letter with its line number downstream).

- lines (JSON lines, ``audit.log``, syslog): each non-blank line is a record, its bytes exactly as in
  the file (only the line terminator is removed); ``Origin.line`` is the line number. A line that
  holds a JSON array is one record (which normalize dead-letters), never its elements;
- a JSON array file (the whole file one array, ``[`` first and the matching ``]`` last): each
  element, re-serialized, is a record; ``line`` is its index + 1. An element that is not valid JSON
  on its own (bad UTF-8, ``NaN``) is passed on as its exact bytes, so it dead-letters byte for byte
  instead of failing the file;
- a CloudTrail file ``{"Records": [...]}`` (whole file, or one such object per line): each record,
  re-serialized; ``line`` is its index + 1 (or the line number of the line that held it). A line
  whose ``Records`` is empty is passed on as it is;
- pretty-printed or concatenated JSON objects (``evtx_dump -o json`` with its ``Record N`` headers),
  when the whole file is such objects: each object's exact bytes; ``line`` is the line it starts on.

``.gz`` files are read through gzip (a file that is not gzip is a :class:`RecordFileError`).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import orjson

from schemas.event import Origin
from udfs.errors import Location, TtpflowError

Record = tuple[bytes, Origin]

_RECORDS_LINE = re.compile(rb'^\s*\{\s*"Records"\s*:')
_RECORD_HEADER = re.compile(rb"Record \d+\s*\n")  # evtx_dump's separator between pretty-printed records

_CHUNK = 1 << 20
# What the container scanner stops at: a whole string (skipped in one step, escapes included),
# a bracket, a comma, or a lone quote (a string that runs past the bytes read so far).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},"]', re.DOTALL)
_RECORDS_OPEN = re.compile(rb'\{\s*"Records"\s*:\s*\[')
_GAP = re.compile(rb"(?:\s|Record \d+)*+")  # what may stand between concatenated objects
_QUOTE, _COMMA, _BRACE, _BRACKET_CLOSE = b'",{]'
_OPENERS = b"[{"
_EMPTY_RECORDS = b'{"Records":[]}'  # what a pretty-printed CloudTrail object without records is passed on as


Shape = Literal["lines", "array", "objects"]
_HEAD = 1 << 20  # how much of a file's start the sniffing reads to see its first line whole
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class RecordFileError(TtpflowError, ValueError):
    """A file that cannot be read as records at all (e.g. a ``.gz`` that is not gzip); names the file."""


@dataclass(frozen=True)
class Sniffed:
    shape: Shape
    fallback: str | None = None  # why a file that looked like a container is read as lines


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def sniff(path: str | Path) -> Sniffed:
    """The shape of a file: a container (array, objects) only if the whole file is one.

    The first bytes propose a shape: ``[`` an array, ``{`` (on a first line that is not a JSON
    object by itself) or ``Record N`` concatenated objects; anything else is lines. A proposed
    container is confirmed by scanning the whole file (brackets and strings only, no parsing); if it
    does not hold, the file is lines, and ``fallback`` says why.
    """
    path = Path(path)
    name = str(path)
    try:
        with _open(path) as fh:
            head = fh.read(_HEAD)
            start = head.lstrip()
            first = start[:1]
            if first == b"[":
                shape: Shape = "array"
            elif (first == b"{" and not _first_line_is_json(start, complete=len(head) < _HEAD)) or (
                first == b"R" and _RECORD_HEADER.match(start)
            ):
                shape = "objects"
            else:
                return Sniffed("lines")
            fh.seek(0)
            what = "a JSON array" if shape == "array" else "concatenated JSON objects"
            try:
                count = sum(1 for _ in _scan(fh, name, array=shape == "array", dry=True))
            except RecordFileError as exc:
                return Sniffed("lines", f"not {what} as a whole ({exc.message.removeprefix(name + ': ')})")
            if shape == "objects" and not count:  # `Record N` headers and nothing else
                return Sniffed("lines", f"not {what}: no object")
            return Sniffed(shape)
    except _GZIP_ERRORS as exc:
        raise RecordFileError(f"not a readable gzip file: {exc}", location=Location(name)) from None


def iter_records(path: str | Path, *, note: Callable[[str], None] | None = None) -> Iterator[Record]:
    """Every record of the file, with its origin. ``note`` hears why a file that looked like a
    container is read as lines (for a human: the records say it too, as dead letters)."""
    path = Path(path)
    name = str(path)
    sniffed = sniff(path)
    if sniffed.fallback and note is not None:
        note(f"{name}: {sniffed.fallback}: read as lines")
    try:
        with _open(path) as fh:
            if sniffed.shape == "lines":
                yield from _lines(fh, name)
            else:
                yield from _scan(fh, name, array=sniffed.shape == "array")
    except _GZIP_ERRORS as exc:
        raise RecordFileError(f"not a readable gzip file: {exc}", location=Location(name)) from None


def _first_line_is_json(start: bytes, *, complete: bool) -> bool:
    """Whether the first line of ``start`` is a JSON object by itself (then the file is lines)."""
    line, newline, _ = start.partition(b"\n")
    if not newline and not complete:
        return False  # a first line longer than the head: let the whole-file scan decide
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
            if split:  # an empty Records list: the line itself, so that it is accounted for
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


def _element(raw: bytes) -> bytes:
    """An array element re-serialized, or its exact bytes if it is not valid JSON on its own."""
    try:
        return orjson.dumps(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return raw


class _Window:
    """The bytes of a stream from the oldest offset still needed on; positions are file offsets."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self._line, self._line_at = 1, 0  # line number at file offset _line_at

    def fill(self, keep: int) -> bool:
        """Forget the bytes before offset ``keep`` and read more; False at the end of the stream."""
        if self.eof:
            return False
        if keep > self._line_at:
            self.line_of(keep)
        rest = self.buf[keep - self.base :]
        data = self.fh.read(max(_CHUNK, len(rest)))  # doubles for a record longer than a chunk
        self.eof = not data
        self.buf, self.base = rest + data, keep
        return bool(data)

    def line_of(self, offset: int) -> int:
        """The line number at ``offset``; asked for offsets that never decrease."""
        self._line += self.buf.count(b"\n", self._line_at - self.base, offset - self.base)
        self._line_at = offset
        return self._line

    def rest_is_blank(self, offset: int) -> bool:
        """Whether nothing but whitespace follows ``offset`` (reads to the end, a chunk at a time)."""
        if self.buf[offset - self.base :].strip():
            return False
        while data := self.fh.read(_CHUNK):
            if data.strip():
                return False
        return True


def _scan(fh: IO[bytes], name: str, *, array: bool, dry: bool = False) -> Iterator[Record]:
    """The records of a JSON array file (``array``) or of concatenated objects, streamed.

    A byte-level scanner: it follows strings and bracket depth only, cuts the elements of an array
    (the file's, or a CloudTrail object's ``Records``) at its commas and objects where they close,
    and leaves parsing to orjson, one record at a time. ``dry``: only check that the whole file is
    such a container (records are yielded unparsed), raising :class:`RecordFileError` if not.
    """
    win = _Window(fh)
    pos = 0  # the next offset to scan
    depth = 0
    split = 1 if array else 0  # > 0: cut the elements of the array open at this depth
    item_from = -1  # where the element being cut starts
    items_here = 0  # elements cut from the array being split
    index = 0  # array elements so far: the line of an element is its index + 1
    gap_from = -1 if array else 0  # concatenated objects: where the bytes between two objects start
    object_from, object_line = -1, 0  # concatenated objects: where the one being read starts (-1: none
    # or a CloudTrail object, whose records are cut as they come and whose bytes are not kept)

    def cut(until: int) -> Record:
        nonlocal index, items_here
        raw = win.buf[item_from - win.base : until - win.base].strip()
        if not raw:
            raise RecordFileError(f"{name}: element {index + 1} is empty")
        index += 1
        items_here += 1
        return (raw if dry else _element(raw)), Origin(file=name, line=index)

    while True:
        buf, base = win.buf, win.base
        m = _TOKEN.search(buf, pos - base)
        if m is None or (m.end() - m.start() == 1 and buf[m.start()] == _QUOTE):  # out of bytes, or mid-string
            pos = base + (m.start() if m is not None else len(buf))
            if win.fill(min(p for p in (item_from, gap_from, object_from, pos) if p >= 0)):
                continue
            if m is not None:
                raise RecordFileError(f"{name}: line {win.line_of(pos)}: a string is not closed at the end of the file")
            if array:
                raise RecordFileError(f"{name}: the array is not closed at the end of the file (element {index + 1})")
            if depth:
                raise RecordFileError(f"{name}: the object that starts on line {object_line} is not closed")
            if not _GAP.fullmatch(buf, gap_from - base):
                raise RecordFileError(f"{name}: line {_gap_end_line(win, gap_from)}: not a JSON object")
            return
        start = m.start()
        token = buf[start]
        at, pos = base + start, base + m.end()
        if token == _QUOTE:
            if depth == 0:
                raise RecordFileError(f"{name}: line {win.line_of(at)}: not a JSON object")
        elif token == _COMMA:
            if depth == split:
                yield cut(at)
                item_from = pos
        elif token in _OPENERS:
            if depth == 0 and not array:
                if token != _BRACE or not _GAP.fullmatch(buf, gap_from - base, start):
                    raise RecordFileError(f"{name}: line {_gap_end_line(win, gap_from)}: not a JSON object")
                if len(buf) - start < 256 and win.fill(gap_from):
                    pos = at  # read on, to see whether `{"Records": [` starts here
                    continue
                gap_from, object_from, object_line = -1, at, win.line_of(at)
                records = _RECORDS_OPEN.match(win.buf, at - win.base)
                if records:  # a CloudTrail object: its records, one by one
                    depth = split = 2
                    object_from, items_here = -1, 0
                    item_from = pos = win.base + records.end()
                    continue
            depth += 1
            if depth == split:
                item_from, items_here = pos, 0
        elif depth == 0:
            raise RecordFileError(f"{name}: line {win.line_of(at)}: unbalanced {chr(token)}")
        elif depth == split and token == _BRACKET_CLOSE:
            if items_here or buf[item_from - base : start].strip():
                yield cut(at)
            elif not array:  # a CloudTrail object with no records: still a record, so it is accounted for
                yield _EMPTY_RECORDS, Origin(file=name, line=object_line)
            depth, split, item_from = depth - 1, 0, -1
            if array:
                if not win.rest_is_blank(pos):
                    raise RecordFileError(f"{name}: more data after the array's closing ]")
                return
        else:
            depth -= 1
            if depth == 0:  # a concatenated object closed
                if object_from >= 0:
                    blob = buf[object_from - base : m.end()]
                    records = _split_records(blob) if not dry and b'"Records"' in blob else None
                    if records is None:
                        yield blob, Origin(file=name, line=object_line)
                    for payload in records or ():
                        index += 1
                        yield payload, Origin(file=name, line=index)
                object_from, gap_from = -1, pos


def _gap_end_line(win: _Window, gap_from: int) -> int:
    """The line of the first byte after ``gap_from`` that may not stand between two objects."""
    return win.line_of(win.base + _GAP.match(win.buf, gap_from - win.base).end())  # type: ignore[union-attr]
