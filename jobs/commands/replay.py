"""``ttpflow replay PATH... --topic T``: publish file records to Kafka, bytes exact, with a progress bar.

``--dead-letter PATH`` (repeatable) re-injects dead letters after a parser fix: each line of a
dead-letter file gives back the original payload (``raw``, base64-decoded when ``raw_encoding`` is
``base64``), checked against its ``raw_sha256`` before it is sent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from jobs.errors import UserError
from schemas.dead_letter import DeadLetter
from udfs.errors import TtpflowError
from udfs.normalize.files import RecordFileError, iter_records
from udfs.normalize.rawjson import raw_sha256

DEFAULT_BOOTSTRAP = "localhost:9092"


class ReplayInputError(TtpflowError, ValueError):
    """A dead-letter line that cannot give back its payload; names file and line."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="publish file records (or dead letters' original bytes) to a Kafka topic",
        description="Publish every record of the files to TOPIC, byte for byte, with a progress bar on "
        "stderr. --dead-letter re-injects the original payloads kept in dead-letter files.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="record files: JSON lines, arrays, CloudTrail, logs")
    parser.add_argument("--topic", required=True, help="Kafka topic to publish to")
    parser.add_argument("--bootstrap-servers", default=DEFAULT_BOOTSTRAP, metavar="H:P", help="default: %(default)s")
    parser.add_argument("--rate", type=float, default=0.0, metavar="N", help="at most N records per second (0: no cap)")
    parser.add_argument(
        "--dead-letter", action="append", default=[], metavar="PATH", help="a dead-letter file to re-inject"
    )
    parser.set_defaults(func=run)


def dead_letter_payload(line: bytes, where: str) -> bytes:
    """The original bytes a dead-letter line kept, verified against its hash."""
    try:
        letter = DeadLetter.model_validate(orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        raise ReplayInputError(f"{where}: not JSON ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "$"
        raise ReplayInputError(f"{where}: not a dead letter: {field}: {first['msg']}") from None
    try:
        payload = letter.payload()
    except ValueError as exc:  # bad base64
        raise ReplayInputError(f"{where}: raw is not valid {letter.raw_encoding}: {exc}") from None
    if raw_sha256(payload) != letter.raw_sha256:
        raise ReplayInputError(f"{where}: raw does not match raw_sha256 {letter.raw_sha256}; was the file edited?")
    return payload


def iter_dead_letters(path: str | Path) -> Iterator[bytes]:
    with Path(path).open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield dead_letter_payload(line, f"{path}:{number}")


def iter_payloads(paths: list[str], dead_letters: list[str]) -> Iterator[bytes]:
    for path in paths:
        for payload, _origin in iter_records(path):
            yield payload
    for path in dead_letters:
        yield from iter_dead_letters(path)


class Progress:
    """A one-line progress bar on stderr, redrawn at most five times a second."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.start = self._last = time.monotonic()

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._last >= 0.2 or self.done == self.total:
            self._last = now
            self.draw(now)

    def draw(self, now: float | None = None) -> None:
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        self.stream.write(f"\r[{bar:<30}] {self.done}/{self.total} {self.done / elapsed:,.0f} rec/s")
        self.stream.flush()

    def close(self) -> None:
        self.draw()
        self.stream.write("\n")


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.dead_letter:
        raise UserError("nothing to replay: give record files and/or --dead-letter PATH")
    missing = [p for p in [*args.paths, *args.dead_letter] if not Path(p).is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    if args.rate < 0:
        raise UserError("--rate must be >= 0")
    try:
        # Counted first (reading is cheap next to publishing) so the bar has a total and bad input
        # stops the run before anything was sent.
        total = sum(1 for _ in iter_payloads(args.paths, args.dead_letter))
    except (RecordFileError, ReplayInputError) as exc:
        raise UserError(str(exc)) from None
    producer = _producer(args.bootstrap_servers)
    failures: list[str] = []
    progress = Progress(total)
    interval = 1.0 / args.rate if args.rate else 0.0
    next_at = time.monotonic()
    try:
        for payload in iter_payloads(args.paths, args.dead_letter):
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at = max(next_at + interval, time.monotonic() - 1.0)
            producer.send(args.topic, value=payload).add_errback(lambda exc: failures.append(str(exc)))
            progress.step()
        producer.flush()
    finally:
        progress.close()
        producer.close()
    if failures:
        print(f"{len(failures)} of {total} records failed to publish; first error: {failures[0]}", file=sys.stderr)
        return 1
    print(f"published {total} records to {args.topic}", file=sys.stderr)
    return 0


def _producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer  # imported here: the other commands need no Kafka client
    from kafka.errors import KafkaError

    try:
        return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, retries=5)
    except KafkaError as exc:
        raise UserError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
