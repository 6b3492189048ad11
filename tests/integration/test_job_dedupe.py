"""Hit deduplication in the real job (Flink MiniCluster, ``ttpflow run`` on files): the hits of rules
that ask (a technique map with ``dedupe:``, a Sigma rule with ``ttpflow.dedupe``) are one per rule,
entity and window before they become signals and feed correlation; every other hit is untouched.

One job run. The input arrives out of order within the watermark bound, so the job keeps the
earliest hit of each window in event time: the expectation is the CLI's logic over the hits sorted by time.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.event import Origin
from tests.integration.jobrun import PROJECT_ROOT, FileRun, plain_event, run_files, write_jsonl
from udfs.detect.dedupe import HitDeduplicator
from udfs.detect.detector import dedupe_windows, load_detector
from udfs.normalize.normalizer import Normalizer

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = 1_714_557_600_000  # 10:00:00Z, a multiple of ten minutes
DISCOVERY_MAP = """kind: technique_map
id: test-discovery
title: Host discovery tools started
field: process.name
dedupe: 10m
entries:
  - match: [hostname.exe]
    techniques: [T1082]
    level: low
  - match: [ipconfig.exe]
    techniques: [T1016]
    level: low
"""
# Three discovery hits on a host within 30 minutes: after dedupe, three different ten-minute windows.
COUNT_RULE = """title: Discovery in three windows
id: dedf0000-0000-4000-8000-000000000001
correlation:
    type: event_count
    rules: [map:test-discovery]
    group-by: [host]
    timespan: 30m
    condition: {gte: 3}
level: medium
"""
NOTEPAD_RULE = """title: Notepad started
id: dedf0000-0000-4000-8000-000000000002
ttpflow.dedupe: 10m
tags: [attack.collection, attack.t1005]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\\notepad.exe'
    condition: selection
"""


def _sysmon_notepad(ts_ms: int, host: str, record: int) -> dict[str, Any]:
    """The detect fixture's Sysmon 1 notepad.exe start, moved to ``host`` at ``ts_ms``."""
    line = (PROJECT_ROOT / "tests" / "fixtures" / "detect" / "sysmon_evtx.jsonl").read_text().splitlines()[3]
    event = json.loads(line)
    when = datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    system = event["Event"]["System"]
    system["TimeCreated"]["#attributes"]["SystemTime"] = when
    system["EventRecordID"] = record
    system["Computer"] = host
    return event


def _events() -> list[dict[str, Any]]:
    timed: list[tuple[int, dict[str, Any]]] = []

    def add(ts: int, event: dict[str, Any]) -> None:
        timed.append((ts, event))

    # ws-a: hostname.exe every two minutes for twelve minutes (windows 10:00 and 10:10); whoami.exe
    # (the bundled map, no dedupe) at each hostname.exe.
    for i in range(7):
        add(T0 + i * 2 * MIN + 100, plain_event(f"a-h{i}", T0 + i * 2 * MIN + 100, "ws-a", process_name="hostname.exe"))
        add(T0 + i * 2 * MIN + 200, plain_event(f"a-w{i}", T0 + i * 2 * MIN + 200, "ws-a", process_name="whoami.exe"))
    # ws-i: hostname.exe and ipconfig.exe (another entry of the map) twice each in 10:00
    for i in range(2):
        for n, name in enumerate(("hostname.exe", "ipconfig.exe")):
            ts = T0 + i * MIN + 300 + n
            add(ts, plain_event(f"i-{name}-{i}", ts, "ws-i", process_name=name))
    # ws-b: hostname.exe in three windows within 21 minutes, twice in the first: the count rule fires.
    for i, offset in enumerate((1 * MIN, 2 * MIN, 11 * MIN, 21 * MIN)):
        add(T0 + offset + 400, plain_event(f"b-h{i}", T0 + offset + 400, "ws-b", process_name="hostname.exe"))
    # a user with no host: the user is the entity
    for i in range(3):
        event = plain_event(f"u-h{i}", T0 + i * MIN + 500, "ws-u", process_name="hostname.exe", user="carol")
        del event["host"]
        add(T0 + i * MIN + 500, event)
    # Sysmon notepad.exe starts on one host: 10:00, 10:04, 10:09, 10:12 -> two windows
    for i, minute in enumerate((0, 4, 9, 12)):
        add(T0 + minute * MIN + 600, _sysmon_notepad(T0 + minute * MIN + 600, "ws-c.corp.example", 7000 + i))
    rng = random.Random(7)  # arrival order shuffled within 30 s, well inside the 60 s watermark bound
    return [event for _, event in sorted(timed, key=lambda te: te[0] + rng.randrange(0, 30_000))]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FileRun, Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("dedupe")
    rules = tmp / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "technique_maps" / "test_discovery.yaml").write_text(DISCOVERY_MAP)
    (rules / "correlations" / "test_discovery_count.yml").write_text(COUNT_RULE)
    sigma = tmp / "notepad.yml"
    sigma.write_text(NOTEPAD_RULE)
    path = write_jsonl(tmp / "in.jsonl", _events())
    job = run_files(tmp, [path], "--rules-dir", str(rules), "--sigma", str(sigma))
    return job, path, rules, sigma


def _expected(path: Path, rules: Path, sigma: Path) -> list[dict[str, Any]]:
    """Every hit of the Python detector, in event-time order, through the CLI's deduplication."""
    normalizer, detector = Normalizer(), load_detector(rules, [sigma], cache_dir=False)
    hits = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        event = normalizer.normalize(line, Origin(file=str(path), line=n)).event
        assert event is not None
        hits += detector.detect(event)
    dedupe = HitDeduplicator(dedupe_windows(rules, [sigma]))
    return [h for h in sorted(hits, key=lambda h: h["timestamp_ms"]) if dedupe.keep(h)]


def test_signals_are_deduplicated_where_rules_ask(run: tuple[FileRun, Path, Path, Path]) -> None:
    job, path, rules, sigma = run
    assert job.late == [] and job.dead_letters == []
    got = Counter(s["hit_id"] for s in job.signals)
    want = Counter(h["hit_id"] for h in _expected(path, rules, sigma))
    assert got == want
    by_rule = Counter((s["rule_id"], s["host"] or s["user"], tuple(s["techniques"])) for s in job.signals)
    assert by_rule[("map:test-discovery", "ws-a", ("T1082",))] == 2  # 7 starts in two windows
    assert by_rule[("map:test-discovery", "ws-i", ("T1082",))] == 1
    assert by_rule[("map:test-discovery", "ws-i", ("T1016",))] == 1  # an entry of its own
    assert by_rule[("map:test-discovery", "ws-b", ("T1082",))] == 3
    assert by_rule[("map:test-discovery", "carol", ("T1082",))] == 1
    assert by_rule[("map:ttpflow-process-names", "ws-a", ("T1033",))] == 7  # asks for nothing: untouched
    assert by_rule[("dedf0000-0000-4000-8000-000000000002", "ws-c.corp.example", ("T1005",))] == 2
    kept = {s["event"]["id"] for s in job.signals if s["rule_id"] == "map:test-discovery"}
    assert {"a-h0", "a-h5", "b-h0"} <= kept  # the earliest of each window, whatever the arrival order


def test_correlation_counts_deduplicated_hits(run: tuple[FileRun, Path, Path, Path]) -> None:
    job = run[0]
    fired = [a["entity"] for a in job.alerts if a["rule_id"] == "dedf0000-0000-4000-8000-000000000001"]
    # ws-a has 9 discovery starts within 12 minutes but in two windows; ws-b has hits in three
    assert fired == ["ws-b"], job.alerts
