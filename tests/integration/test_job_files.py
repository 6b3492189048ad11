"""The whole job in a real Flink MiniCluster, through the `ttpflow run` command line, on files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.integration.jobrun import PROJECT_ROOT, plain_event, run_files, write_jsonl

SEED = PROJECT_ROOT / "samples" / "seed.jsonl"
MIN = 60_000
T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory):
    return run_files(tmp_path_factory.mktemp("seed"), [SEED])


def test_seed_sample_gives_the_injection_then_c2_alert(seed_run) -> None:
    by_rule = {(a["rule_id"], a["entity"]) for a in seed_run.alerts}
    assert ("ttpflow-seq-injection-then-c2", "ws-finance-07") in by_rule
    alert = next(a for a in seed_run.alerts if a["entity"] == "ws-finance-07")
    assert [e["event_id"] for e in alert["evidence"]] == ["evt-0003", "evt-0005"]
    assert alert["techniques"] == ["T1055.012", "T1071.001"]
    assert alert["severity"]["factors"][0]["name"] == "rule_level"
    assert all(len(e["raw_sha256"]) == 16 for e in alert["evidence"])
    # The README's promise: two alerts (this one and the credential dump -> PsExec hop), nothing late.
    assert sorted(a["entity"] for a in seed_run.alerts) == ["srv-dc-01", "ws-finance-07"] and not seed_run.late


def test_sixteen_minutes_apart_gives_no_alert(seed_run) -> None:
    # ws-lab-31: T1055 at 10:03:00, T1071 at 10:19:01.
    assert not [a for a in seed_run.alerts if a["entity"] == "ws-lab-31"]
    assert {h["host"] for h in seed_run.signals} >= {"ws-lab-31"}


def test_malformed_line_is_dead_lettered_byte_for_byte(seed_run) -> None:
    lines = SEED.read_bytes().split(b"\n")
    malformed = next(d for d in seed_run.dead_letters if d["reason"] == "not_json")
    line_no = malformed["origin"]["line"]
    assert malformed["origin"]["file"] == str(SEED)
    assert malformed["raw"].encode() == lines[line_no - 1]
    reasons = sorted(d["reason"] for d in seed_run.dead_letters)
    assert reasons == ["bad_timestamp", "not_json", "unknown_format"]


def test_no_log_line_holds_the_password(seed_run) -> None:
    assert "Sup3rS3cret" in SEED.read_text() and "hunter2" in SEED.read_text()
    assert seed_run.stderr.strip(), "the job logs something"
    assert "Sup3rS3cret" not in seed_run.stderr and "hunter2" not in seed_run.stderr
    for line in seed_run.stderr.splitlines():
        if line.startswith("{"):
            json.loads(line)  # structured


def _campaign(host: str, offset: int, gap_min: int) -> list[dict]:
    return [
        plain_event(f"{host}-a", T0 + offset, host, "T1055"),
        plain_event(f"{host}-noise", T0 + offset + 30_000, host, process_name="whoami.exe"),
        plain_event(f"{host}-b", T0 + offset + gap_min * MIN, host, "T1071"),
    ]


def test_shuffled_within_the_bound_gives_the_same_alerts(tmp_path: Path) -> None:
    events = []
    for n in range(12):
        events += _campaign(f"h{n:02d}", n * 7_000, gap_min=5 if n % 3 else 16)
    events.sort(key=lambda e: e["timestamp"])
    shuffled = list(events)
    rng = random.Random(7)
    # Swap only neighbours less than 20 s apart: within the 60 s out-of-orderness bound.
    for _ in range(200):
        i = rng.randrange(len(shuffled) - 1)
        a, b = shuffled[i], shuffled[i + 1]
        if abs(_ms(a) - _ms(b)) < 20_000:
            shuffled[i], shuffled[i + 1] = b, a
    assert shuffled != events
    ordered = run_files(tmp_path / "o", [write_jsonl(_mk(tmp_path / "o") / "in.jsonl", events)])
    mixed = run_files(tmp_path / "m", [write_jsonl(_mk(tmp_path / "m") / "in.jsonl", shuffled)])
    assert sorted(a["id"] for a in ordered.alerts) == sorted(a["id"] for a in mixed.alerts)
    assert len(ordered.alerts) == 8  # the 4 hosts with a 16-minute gap never alert


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ms(event: dict) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def test_streamed_inputs_keep_dead_letter_bytes_and_origins_exact(tmp_path: Path) -> None:
    """Invalid UTF-8 in a JSON-lines file and in a JSON array go through the staged file source and
    come out of the file sink as dead letters whose raw bytes are the records' exact bytes."""
    from jobs.commands.replay import dead_letter_payload
    from udfs.normalize.files import iter_records

    lines = tmp_path / "mixed.jsonl"
    lines.write_bytes(
        json.dumps(plain_event("s-1", T0, "ws-s1", "T1055")).encode() + b"\n"
        + b'{"event_id": "s-2", "host": "\xff\xfe"}\n'
        + b"\x00\x01 binary \xc3\r\n"
        + b'{"event_id": "s-3", "timestamp": "never", "host": "ws-s1"}\n'
    )
    array = tmp_path / "events.json"
    array.write_bytes(
        b"[" + json.dumps(plain_event("a-1", T0 + 1000, "ws-a1", "T1055")).encode()
        + b',\n {"event_id": "a-2", "timestamp": "later", "host": "ws-a1"},\n {"event_id": "a-3", "x": "\xff"}]'
    )
    run = run_files(tmp_path, [lines, array])
    records = {(str(path), origin.line): payload for path in (lines, array) for payload, origin in iter_records(path)}
    letters = (tmp_path / "dead.jsonl").read_bytes().splitlines()
    got = {}
    for number, letter in enumerate(letters, start=1):
        origin = json.loads(letter)["origin"]
        got[(origin["file"], origin["line"])] = dead_letter_payload(letter, f"dead.jsonl:{number}")
    assert sorted(got) == sorted([(str(lines), 2), (str(lines), 3), (str(lines), 4), (str(array), 2), (str(array), 3)])
    assert got == {key: records[key] for key in got}
    assert got[(str(lines), 3)] == b"\x00\x01 binary \xc3"
    assert got[(str(array), 3)] == b'{"event_id": "a-3", "x": "\xff"}'
    assert {s["host"] for s in run.signals} >= {"ws-s1", "ws-a1"}  # the good records of both files
    assert "5 dead letters" in run.stderr
