"""A file run's input and output on disk, so that ``ttpflow run`` on files is the streaming job
with a file source and file sinks, in bounded memory whatever the input size.

In: :func:`stage` streams each input through :func:`udfs.normalize.files.iter_records` (which
knows JSON lines, JSON arrays, CloudTrail ``Records`` and pretty-printed objects, and reads a file
as lines unless all of it is one container: the same records ``ttpflow normalize`` reads) into one
JSON-lines file, a record a line, ``{"name": FILE, "offset": LINE, "payload": BASE64}``: the exact
payload bytes (invalid UTF-8 included) and their origin. The job reads it with Flink's filesystem
connector and JSON format, which decodes the base64 into BYTES in the JVM, so the rows reach
:func:`jobs.pipeline.build` as ``RAW_RECORD_TYPE`` without a Python step of their own
(:func:`decode_staged_line` is the same decoding in Python, for tests and a fused operator).

Out: each wanted output is a Flink ``FileSink`` directory; :func:`gather` concatenates its finished
part files into the requested file (alerts sorted by first_seen_ms then id, in bounded memory).

Free of pyflink imports: the command line and the tests use it without starting a JVM.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from udfs.jsonlog import log
from udfs.normalize.files import iter_records

# The staging file's columns, as the job's source table declares them.
STAGED_COLUMNS = (("name", "STRING"), ("offset", "BIGINT"), ("payload", "BYTES"))

_PART = re.compile(r"-(?P<writer>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})-(?P<count>\d+)")
_WRITE_BUFFER = 1 << 20
_SORT_RUN_BYTES = 32 << 20  # alerts sorted in memory up to this much, merged from sorted runs above


def stage(paths: Iterable[Path], target: Path) -> int:
    """Write every record of ``paths`` to ``target``, one staged line each; return how many.

    Streams: holds one record at a time (``iter_records`` reads containers incrementally too).
    """
    count = 0
    with target.open("wb", buffering=_WRITE_BUFFER) as out:
        for path in paths:
            name = str(path)
            # json.dumps escapes every non-ASCII character (lone surrogates of undecodable file names too)
            prefix = b'{"name":' + json.dumps(name).encode("ascii") + b',"offset":'
            for payload, origin in iter_records(path, note=_note):
                out.write(b"%s%d,\"payload\":\"%s\"}\n" % (prefix, origin.line or 0, base64.b64encode(payload)))
                count += 1
    return count


def _note(text: str) -> None:
    log("input read as lines", logging.WARNING, detail=text)


def decode_staged_line(line: str | bytes) -> tuple[str, str, int, int, bytes]:
    """A staged line as a ``RAW_RECORD_TYPE`` row: ("file", path, -1, line, payload bytes)."""
    record = orjson.loads(line)
    return "file", record["name"], -1, int(record["offset"]), base64.b64decode(record["payload"], validate=True)


# -- output --------------------------------------------------------------------------------------


def part_files(directory: Path) -> list[Path]:
    """The finished part files a FileSink wrote under ``directory``, in a stable order.

    Flink names them ``PREFIX-WRITER-COUNT.SUFFIX`` (one writer per subtask, counting up as it rolls)
    and keeps unfinished ones hidden (``.PREFIX-...inprogress...``): those mean the job did not
    finish its output, an error rather than a silently short file.
    """
    if not directory.is_dir():
        return []
    finished, unfinished = [], []
    for path in directory.rglob("*"):
        if path.is_file():
            (unfinished if path.name.startswith(".") else finished).append(path)
    if unfinished:
        raise RuntimeError(f"{directory}: unfinished part files left by the job: {sorted(p.name for p in unfinished)}")

    def order(path: Path) -> tuple[str, str, int, str]:
        m = _PART.search(path.name)
        writer, count = (m["writer"], int(m["count"])) if m else ("", 0)
        return str(path.parent), writer, count, path.name

    return sorted(finished, key=order)


def _lines(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    yield line if line.endswith(b"\n") else line + b"\n"


def alert_order(line: bytes) -> tuple[int, str]:
    """Alerts in the order they started: first_seen_ms, then id."""
    try:
        alert: Any = orjson.loads(line)
        return int(alert.get("first_seen_ms", 0)), str(alert.get("id", ""))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0, line.decode("utf-8", "replace")


def sorted_lines(
    lines: Iterable[bytes], key: Callable[[bytes], Any], spill_dir: Path, run_bytes: int = _SORT_RUN_BYTES
) -> Iterator[bytes]:
    """``lines`` sorted by ``key`` holding at most about ``run_bytes`` of them: sorted runs spilled
    to ``spill_dir`` above that, then merged."""
    with contextlib.ExitStack() as stack:
        runs: list[IO[bytes]] = []
        batch: list[bytes] = []
        size = 0
        for line in lines:
            batch.append(line)
            size += len(line)
            if size >= run_bytes:
                run = stack.enter_context(tempfile.TemporaryFile(dir=spill_dir))
                run.writelines(sorted(batch, key=key))
                run.seek(0)
                runs.append(run)
                batch, size = [], 0
        batch.sort(key=key)
        yield from heapq.merge(*runs, batch, key=key) if runs else batch


def gather(directory: Path, out: IO[bytes], *, sort_alerts: bool = False, spill_dir: Path | None = None) -> int:
    """Copy the part files under ``directory`` to ``out`` (alerts sorted); return the line count."""
    lines = _lines(part_files(directory))
    if sort_alerts:
        lines = sorted_lines(lines, alert_order, spill_dir or directory)
    count = 0
    for line in lines:
        out.write(line)
        count += 1
    return count
