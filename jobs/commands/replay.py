"""``ttpflow replay PATH... --topic T``: publish file records to Kafka, bytes exact, with a progress bar.

``--dead-letter PATH`` (repeatable) re-injects dead letters after a parser fix: each line of a
dead-letter file gives back the original payload (``raw``, base64-decoded when ``raw_encoding`` is
``base64``), checked against its ``raw_sha256`` (and ``sha256`` and ``length``) before it is sent.

A truncated dead letter (a payload larger than the job's ``--dead-letter-max-bytes``) kept only the
payload's first bytes: it cannot give back the original, so replay refuses it, naming the line,
unless told what to do: ``--truncated skip`` leaves such letters out, ``--truncated prefix``
publishes the kept prefix (which will usually dead-letter again, as ``not_json``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Iterator
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
TRUNCATED_CHOICES = ("refuse", "skip", "prefix")


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
    from jobs.options import add_kafka_client_args

    add_kafka_client_args(parser)  # SASL / TLS as the job's (the kafka-python subset: jobs.kafka_props)
    parser.add_argument(
        "--dead-letter", action="append", default=[], metavar="PATH", help="a dead-letter file to re-inject"
    )
    parser.add_argument(
        "--truncated", choices=TRUNCATED_CHOICES, default="refuse",
        help="dead letters that kept only a prefix of their payload: refuse (default: stop before sending "
             "anything), skip them, or publish the prefix",
    )
    parser.set_defaults(func=run)


def dead_letter_payload(line: bytes, where: str, truncated: str = "refuse") -> bytes | None:
    """The original bytes a dead-letter line kept, verified against its hashes; for a truncated
    letter, per ``truncated``: refuse (raise), skip (None) or its prefix."""
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
    if letter.truncated:
        if truncated == "refuse":
            raise ReplayInputError(
                f"{where}: a truncated dead letter: it kept the first {len(payload)} of {letter.length} bytes "
                f"(sha256 {letter.sha256}), so the original cannot be replayed; fetch it from the source by "
                "its origin, or pass --truncated skip (leave such letters out) or --truncated prefix "
                "(publish the kept bytes)"
            )
        if letter.length is not None and len(payload) >= letter.length:
            raise ReplayInputError(f"{where}: truncated, yet raw holds {len(payload)} of {letter.length} bytes; "
                                   "was the file edited?")
        return payload if truncated == "prefix" else None
    if raw_sha256(payload) != letter.raw_sha256 or (
        letter.sha256 is not None and hashlib.sha256(payload).hexdigest() != letter.sha256
    ):
        raise ReplayInputError(f"{where}: raw does not match raw_sha256 {letter.raw_sha256}; was the file edited?")
    if letter.length is not None and len(payload) != letter.length:
        raise ReplayInputError(f"{where}: raw holds {len(payload)} bytes, length says {letter.length}")
    return payload


def iter_dead_letters(path: str | Path, truncated: str = "refuse") -> Iterator[bytes]:
    with Path(path).open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                payload = dead_letter_payload(line, f"{path}:{number}", truncated)
                if payload is not None:
                    yield payload


def iter_payloads(paths: list[str], dead_letters: list[str], truncated: str = "refuse",
                  note: Callable[[str], None] | None = None) -> Iterator[bytes]:
    for path in paths:
        for payload, _origin in iter_records(path, note=note):
            yield payload
    for path in dead_letters:
        yield from iter_dead_letters(path, truncated)


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
        total = largest = 0
        for payload in iter_payloads(args.paths, args.dead_letter, args.truncated, _note):
            total += 1
            largest = max(largest, len(payload))
    except (RecordFileError, ReplayInputError) as exc:
        raise UserError(str(exc)) from None
    from jobs.kafka_props import client_properties, kafka_python_args
    from jobs.options import kafka_client_settings

    client = kafka_python_args(client_properties(*kafka_client_settings(args)))
    producer = _producer(args.bootstrap_servers, largest, client)
    from kafka.errors import KafkaError
    failures: list[str] = []
    progress = Progress(total)
    interval = 1.0 / args.rate if args.rate else 0.0
    next_at = time.monotonic()
    try:
        for payload in iter_payloads(args.paths, args.dead_letter, args.truncated):
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at = max(next_at + interval, time.monotonic() - 1.0)
            try:
                producer.send(args.topic, value=payload).add_errback(lambda exc: failures.append(str(exc)))
            except KafkaError as exc:  # refused before sending (e.g. larger than the buffer): one record
                failures.append(f"{type(exc).__name__}: {exc}")
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


def _note(text: str) -> None:
    print(f"ttpflow replay: {text}", file=sys.stderr)


def _producer(bootstrap: str, largest: int = 0, client: dict[str, Any] | None = None) -> Any:
    from kafka import KafkaProducer  # imported here: the other commands need no Kafka client
    from kafka.errors import KafkaError

    # The client's own 1 MiB request cap would refuse a large record before the topic could say
    # whether it takes it (max.message.bytes): size the request for the largest record to send.
    request = max(1 << 20, largest + (64 << 10))
    try:
        return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, retries=5,
                             max_request_size=request, **(client or {}))
    except KafkaError as exc:  # its type only: kafka-python may quote its configuration
        raise UserError(f"cannot reach Kafka at {bootstrap}: {type(exc).__name__}") from None
