"""`ttpflow normalize` and the Flink job produce the same events for the same input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from tests.integration.jobrun import PROJECT_ROOT, run_files, ttpflow

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "normalize"
INPUTS = [
    FIXTURES / name
    for name in ("windows_evtx.jsonl", "winlogbeat.jsonl", "zeek.jsonl", "okta.jsonl", "cloudtrail_records.json",
                 "auditd.log", "plain_json.jsonl")
]


def _canonical(lines: Iterable[str]) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines if line.strip())


def test_cli_and_job_give_identical_events(tmp_path: Path) -> None:
    from udfs.redact import redact

    cli = ttpflow("normalize", *map(str, INPUTS))
    # The job's outputs carry events redacted by the log rules (docs/event-model.md); the CLI prints them
    # as normalized, for the user's own eyes.
    from_cli = _canonical(json.dumps(redact(json.loads(line))) for line in cli.stdout.splitlines() if line.strip())
    events = tmp_path / "events.jsonl"
    ttpflow("run", "--input", *map(str, INPUTS), "--output", str(tmp_path / "alerts.jsonl"), "--events", str(events))
    from_job = _canonical(events.read_text().splitlines())
    assert len(from_cli) > 50
    assert from_job == from_cli


def _bad_lines() -> list[bytes]:
    """One payload per dead-letter reason normalize gives, the first line a hostile one."""
    plain = {"event_id": "ok-1", "timestamp": "2024-05-01T10:00:00Z", "host": "h1", "attck_technique": "T1055"}
    return [
        b"[1, 2, 3]",  # an array line first: the file is still JSON lines
        b"this is not json {",
        b'{"event_id": "u", "timestamp": "2024-05-01T10:00:00Z", "host": "\xff\xfe"}',
        b'{"event_id": "t", "timestamp": "2024-05-01T10:',
        b'{"a": ' * 40 + b"1" + b"}" * 40,
        json.dumps({"event_id": "big", "items": list(range(10_001))}).encode(),
        b'{"event_id": "d", "event_id": "e"}',
        b'{"who": "knows"}',
        json.dumps({**plain, "event_id": "bt", "timestamp": "yesterday"}).encode(),
        json.dumps({**plain, "event_id": "huge", "pad": "x" * 1_200_000}).encode(),  # oversized: truncated
        b'{"Records": []}',
        b"[" + b",".join([b"0"] * 500_000) + b"]",  # a 500k-element array line: one record
        b'{"a": NaN}',
        json.dumps(plain).encode(),
    ]


def _letters(lines: list[str]) -> list[dict[str, object]]:
    out = [json.loads(line) for line in lines if line.strip()]
    return sorted(out, key=lambda d: (d["origin"]["file"], d["origin"]["line"]))


def test_cli_and_job_dead_letter_the_same_bytes_with_the_same_reasons(tmp_path: Path) -> None:
    lines = tmp_path / "bad.jsonl"
    lines.write_bytes(b"\n".join(_bad_lines()) + b"\n")
    array = tmp_path / "bad-array.json"
    array.write_bytes(b'[{"event_id": "a1", "timestamp": "2024-05-01T10:00:00Z", "host": "h"},\n'
                      b' {"bad": "\xff"}, 5, "text", [], {"event_id": "a2"}]')
    dead = tmp_path / "dead.jsonl"
    cli = ttpflow("normalize", str(lines), str(array), "--dead-letter", str(dead))
    from_cli = _letters(dead.read_text().splitlines())
    job = run_files(tmp_path / "job", [lines, array])
    from_job = _letters([json.dumps(d) for d in job.dead_letters])

    reasons = [(d["origin"]["line"], d["reason"]) for d in from_cli if d["origin"]["file"] == str(lines)]
    assert reasons == [
        (1, "schema"), (2, "not_json"), (3, "invalid_utf8"), (4, "not_json"), (5, "too_deep"), (6, "huge_array"),
        (7, "duplicate_key"), (8, "unknown_format"), (9, "bad_timestamp"), (10, "oversized"), (11, "unknown_format"),
        (12, "schema"), (13, "not_json"),
    ], "every bad line is one dead letter with its line number, the 500k-element line too"
    assert [d["origin"]["line"] for d in from_cli if d["origin"]["file"] == str(array)] == [2, 3, 4, 5, 6]
    assert from_job == from_cli, "the same letters: reason, detail, kept bytes, length, sha256, origin"
    oversized = next(d for d in from_cli if d["reason"] == "oversized")
    assert oversized["truncated"] and oversized["length"] == len(_bad_lines()[9])
    assert re.search(r"^total\s+20\s+2\s+18$", cli.stderr, re.M), cli.stderr
    assert "bad.jsonl: not a JSON array as a whole" in cli.stderr  # why the file was read as lines
