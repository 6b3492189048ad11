"""Run the real ``ttpflow`` command line (and so a real Flink MiniCluster) from tests."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Zeek's conn.log has no technique; this map gives its TLS connections T1071.001 for the tests.
ZEEK_MAP = """kind: technique_map
id: test-zeek-services
field: network.protocol
entries:
  - match: [ssl]
    techniques: [T1071.001]
    level: low
"""


@dataclass
class FileRun:
    alerts: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    late: list[dict[str, Any]]
    stderr: str


def ttpflow(*args: str, timeout_s: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ttpflow {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


# A sequence no SQL form takes (three steps): it runs on the Python path.
THREE_STEP_SEQUENCE = """kind: sequence
id: test-seq-three
title: Injection, discovery, C2 (three steps, so the Python path)
group_by: host
within: 30m
level: high
steps:
  - techniques: [T1055]
  - techniques: [T1082]
  - techniques: [T1071]
"""


def wait_for_signal(bootstrap: str, topic: str, event_id: str, timeout_s: float = 90) -> None:
    """Until the job's signals topic holds the signal of ``event_id`` (committed or not)."""
    import time

    from tests.conftest import consume_from_kafka

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in consume_from_kafka(bootstrap, topic, timeout_s=5):
            if json.loads(record.value)["event"].get("id") == event_id:
                return
        time.sleep(0.5)
    raise AssertionError(f"no signal for {event_id} within {timeout_s}s")


def stop_job(proc: subprocess.Popen[Any], grace_s: float = 30) -> None:
    """End a job started in the background (``ttpflow run`` on Kafka): SIGTERM, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_files(tmp: Path, inputs: list[Path], *extra: str) -> FileRun:
    out = {name: tmp / f"{name}.jsonl" for name in ("alerts", "dead", "signals", "late")}
    proc = ttpflow(
        "run", "--input", *map(str, inputs), "--output", str(out["alerts"]), "--dead-letter", str(out["dead"]),
        "--signals", str(out["signals"]), "--late", str(out["late"]), *extra,
    )
    return FileRun(_read(out["alerts"]), _read(out["dead"]), _read(out["signals"]), _read(out["late"]), proc.stderr)


def plain_event(event_id: str, ts_ms: int, host: str, technique: str | None = None, **extra: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    record: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "host": host,
        **extra,
    }
    if technique:
        record["attck_technique"] = technique
    return record


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def zeek_conn(uid: str, ts_ms: int, src: str, dst: str = "185.220.101.34") -> dict[str, Any]:
    """A Zeek conn.log TLS connection (T1071.001 under ZEEK_MAP)."""
    return {"ts": ts_ms / 1000, "uid": uid, "id.orig_h": src, "id.orig_p": 51234, "id.resp_h": dst,
            "id.resp_p": 443, "proto": "tcp", "service": "ssl", "conn_state": "SF", "history": "ShADadFf"}
