"""`ttpflow normalize` and the Flink job produce the same events for the same input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.jobrun import PROJECT_ROOT, ttpflow

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "normalize"
INPUTS = [
    FIXTURES / name
    for name in ("windows_evtx.jsonl", "winlogbeat.jsonl", "zeek.jsonl", "okta.jsonl", "cloudtrail_records.json",
                 "auditd.log", "plain_json.jsonl")
]


def _canonical(lines: list[str]) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines if line.strip())


def test_cli_and_job_give_identical_events(tmp_path: Path) -> None:
    cli = ttpflow("normalize", *map(str, INPUTS))
    from_cli = _canonical(cli.stdout.splitlines())
    events = tmp_path / "events.jsonl"
    ttpflow("run", "--input", *map(str, INPUTS), "--output", str(tmp_path / "alerts.jsonl"), "--events", str(events))
    from_job = _canonical(events.read_text().splitlines())
    assert len(from_cli) > 50
    assert from_job == from_cli
