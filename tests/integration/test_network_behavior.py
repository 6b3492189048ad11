"""Network behaviour in the real job: a C2 channel seen only as regular Zeek connections becomes a
T1071 hit (window state in Flink's window operator), links to its host through the address binding
and completes the injection-then-C2 sequence; irregular traffic stays quiet; the reference agrees."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.config import JobConfig
from tests.integration.jobrun import plain_event, run_files, write_jsonl, zeek_conn
from udfs.testing.reference import reference_alerts

T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z: an hour boundary, as the bundled rules' windows
MIN = 60_000


def _time(record: dict[str, Any]) -> float:
    if "ts" in record:
        return record["ts"] * 1000
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp() * 1000


def _records() -> list[dict[str, Any]]:
    rnd = random.Random(5)
    beacon = [zeek_conn(f"Cb{i}", T0 + i * 5 * MIN + rnd.randint(0, 3000), "10.77.0.5") for i in range(12)]
    t, browsing = T0, []
    for i in range(14):  # the same destination, at human intervals
        t += rnd.randint(1, 9) * MIN
        browsing.append(zeek_conn(f"Cw{i}", t, "10.77.0.6"))
    endpoint = [plain_event("b-inj", T0 + 50 * MIN, "ws-b1", "T1055", src_ip="10.77.0.5"),
                plain_event("w-inj", T0 + 50 * MIN, "ws-w1", "T1055", src_ip="10.77.0.6"),
                plain_event("tick", T0 + 3 * 60 * MIN, "ws-tick", "T1082")]
    return sorted(beacon + browsing + endpoint, key=_time)


def test_a_beacon_seen_only_on_the_network_completes_a_sequence(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", _records())
    run = run_files(tmp_path, [path], "--no-baselines")  # compared with the reference below: see test_differential
    assert [(a["rule_id"], a["entity"]) for a in run.alerts] == [("ttpflow-seq-injection-then-c2", "ws-b1")]
    assert [e["event_id"] for e in run.alerts[0]["evidence"]] == ["b-inj", f"beacon:10.77.0.5->185.220.101.34:443@{T0}"]
    [beacon] = [s for s in run.signals if s["rule_source"] == "network"]
    assert beacon["timestamp_ms"] == T0 + 60 * MIN - 1 and beacon["techniques"] == ["T1071"]
    assert beacon["details"]["beats"] == 12 and beacon["details"]["jitter"] < 0.15
    assert "every 300 s" in beacon["details"]["explanation"]
    assert run.late == [] and run.dead_letters == []
    expected = reference_alerts(path.read_bytes().splitlines(), JobConfig())
    assert [json.dumps(a, sort_keys=True) for a in run.alerts] == [json.dumps(a, sort_keys=True) for a in expected]
