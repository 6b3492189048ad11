"""``ttpflow normalize PATH... [--format F] [--dead-letter PATH]``: files in, normalized events out.

One normalized event per line on stdout, dead letters to ``--dead-letter`` (JSON lines), and a
summary per format (read, normalized, dead-lettered by reason) on stderr. Exit code 0 even when
records were dead-lettered (that is data, not a failure); 2 for a usage error. Files are read as
the job reads them (:mod:`udfs.normalize.files`: a line is a record unless the whole file is one
container), and dead letters are the job's, ``--dead-letter-max-bytes`` included.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import IO, Any

import orjson

from jobs.errors import UserError
from jobs.options import add_dead_letter_max_bytes
from udfs.normalize import registry
from udfs.normalize.files import RecordFileError, iter_records
from udfs.normalize.normalizer import Normalizer
from udfs.normalize.stats import NormalizeStats


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "normalize",
        help="normalize telemetry files into the unified event model (JSON lines on stdout)",
        description="Read JSON lines, JSON arrays, CloudTrail Records files or raw log lines and print "
        "one normalized event per line. Dead letters go to --dead-letter; a summary goes to stderr.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="input files (.gz accepted)")
    parser.add_argument(
        "--format",
        dest="fmt",
        metavar="F",
        help=f"fix the format instead of detecting it: {', '.join(registry.names())}",
    )
    parser.add_argument("--dead-letter", metavar="PATH", help="write dead letters here (JSON lines)")
    add_dead_letter_max_bytes(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        normalizer = Normalizer(args.fmt, dead_letter_max_bytes=args.dead_letter_max_bytes)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    missing = [p for p in args.paths if not Path(p).is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    stats = NormalizeStats()
    out = sys.stdout.buffer
    with contextlib.ExitStack() as stack:
        dead_fh = _open_dead_letters(args.dead_letter, stack)
        try:
            for path in args.paths:
                for payload, origin in iter_records(path, note=_note):
                    outcome = normalizer.normalize(payload, origin)
                    stats.count(outcome)
                    if outcome.event is not None:
                        out.write(orjson.dumps(outcome.event) + b"\n")
                    elif dead_fh is not None:
                        dead_fh.write(orjson.dumps(outcome.dead_letter) + b"\n")
        except RecordFileError as exc:
            raise UserError(str(exc)) from None
        finally:
            out.flush()
            print(stats.table(), file=sys.stderr)
    if stats.dead and not args.dead_letter:
        print(f"{stats.dead} dead letters not kept: pass --dead-letter PATH to keep them", file=sys.stderr)
    return 0


def _note(text: str) -> None:
    print(f"ttpflow normalize: {text}", file=sys.stderr)


def _open_dead_letters(path: str | None, stack: contextlib.ExitStack) -> IO[bytes] | None:
    if not path:
        return None
    try:
        return stack.enter_context(Path(path).open("wb"))
    except OSError as exc:
        raise UserError(f"cannot write dead letters to {path}: {exc.strerror}") from None
