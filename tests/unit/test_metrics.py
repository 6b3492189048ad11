"""The job's own metrics (udfs.metrics) on in-memory instruments: what the PyFlink wrappers hand
Flink's metric group. Bounded labels, buffered counts flushed per bundle, cumulative histograms."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import orjson

from schemas.config import JobConfig
from udfs import jsonlog
from udfs.analyze import Analysis, Analyzer
from udfs.metrics import OTHER, AlertMetrics, AnalyzeMetrics, Histogram, LateMetrics, MemoryGroup

NOW = 1_714_557_700_000


def _hit(rule: str, ts: int = NOW - 5_000) -> tuple[Any, ...]:
    return ("hit", ts, f"h-{rule}", None, rule)


def _metrics(**kw: Any) -> tuple[AnalyzeMetrics, MemoryGroup]:
    group = MemoryGroup()
    return AnalyzeMetrics(group, clock_ms=lambda: NOW, **kw), group


def test_counts_wait_for_the_flush_then_land_once() -> None:
    metrics, group = _metrics()
    for _ in range(3):
        metrics.outcome(Analysis(rows=[_hit("r1"), ("fact", NOW, "ip:1", "h")], source_format="zeek", event_ms=NOW))
    metrics.outcome(Analysis(dead_letter="{}", reason="not_json"))
    assert group.values().get("records_in", 0) == 0, "nothing reaches Flink per record"
    metrics.flush()
    metrics.flush()  # a second flush adds nothing
    values = group.values()
    assert values["records_in"] == 4 and values["events_parsed"] == 3 and values["dead_letters"] == 1
    assert values["technique_hits"] == 3 and values["binding_facts"] == 3
    assert values["rule=r1/hits"] == 3
    assert values["dead_letter=not_json/records"] == 1
    assert values["format=zeek/normalized"] == 3


def test_the_bundle_gauge_flushes() -> None:
    """PyFlink reads gauges once at the end of every bundle (process mode): that is the flush."""
    group = MemoryGroup()
    metrics = AnalyzeMetrics.bound(group, "process")
    metrics.outcome(Analysis(event_ms=NOW, source_format="plain_json"))
    group.read_gauges()
    assert group.values()["records_in"] == 1
    thread = MemoryGroup()
    AnalyzeMetrics.bound(thread, "thread").outcome(Analysis(event_ms=NOW))
    assert not thread.read_gauges(), "thread mode: the reporter's thread must not flush"
    assert thread.values()["records_in"] == 0


def test_flush_every_n_records_without_a_bundle_hook() -> None:
    metrics, group = _metrics(flush_every=10)
    for _ in range(25):
        metrics.outcome(Analysis(event_ms=NOW))
    assert group.values()["records_in"] == 20


def test_rule_labels_are_bounded_the_rest_is_other() -> None:
    metrics, group = _metrics(top_rules=3)
    for i in range(10):
        metrics.outcome(Analysis(rows=[_hit(f"rule-{i}")], event_ms=NOW))
        metrics.outcome(Analysis(rows=[_hit("rule-0")], event_ms=NOW))
    metrics.flush()
    values = group.values()
    rules = {k: v for k, v in values.items() if k.startswith("rule=")}
    assert set(rules) == {"rule=rule-0/hits", "rule=rule-1/hits", "rule=rule-2/hits",
                          f"rule={OTHER}/hits"}
    assert rules["rule=rule-0/hits"] == 11 and rules[f"rule={OTHER}/hits"] == 7
    assert sum(rules.values()) == values["technique_hits"] == 20


def test_dead_letter_reasons_are_a_fixed_set() -> None:
    metrics, group = _metrics()
    for reason in ("not_json", "schema", "a reason nobody planned", None):
        metrics.outcome(Analysis(dead_letter="{}", reason=reason))
    metrics.flush()
    reasons = {k: v for k, v in group.values().items() if k.startswith("dead_letter=")}
    assert reasons == {"dead_letter=not_json/records": 1, "dead_letter=schema/records": 1,
                       f"dead_letter={OTHER}/records": 2}


def test_event_time_lag_is_a_cumulative_histogram() -> None:
    metrics, group = _metrics()
    for lag in (50, 700, 700, 45_000, 10 * 86_400_000):
        metrics.outcome(Analysis(event_ms=NOW - lag))
    metrics.outcome(Analysis(event_ms=NOW + 10_000))  # a clock ahead of ours: 0, not negative
    metrics.flush()
    values = group.values()
    bucket = {k.split("/")[0].removeprefix("le="): v for k, v in values.items()
              if k.endswith("event_time_lag_ms_bucket")}
    assert bucket["100"] == 2 and bucket["500"] == 2 and bucket["1000"] == 4 and bucket["60000"] == 5
    assert bucket["86400000"] == 5 and bucket["+Inf"] == 6
    assert values["event_time_lag_ms_count"] == 6
    assert values["event_time_lag_ms_sum"] == 50 + 700 + 700 + 45_000 + 10 * 86_400_000


def test_histogram_buckets_only_grow() -> None:
    group = MemoryGroup()
    hist = Histogram(group, "h", bounds=(10, 100))
    hist.observe(5)
    hist.flush()
    hist.observe(50)
    hist.flush()
    values = group.values()
    assert values["le=10/h_bucket"] == 1 and values["le=100/h_bucket"] == 2 and values["le=+Inf/h_bucket"] == 2


def test_alert_latency_is_now_less_the_newest_evidence() -> None:
    group = MemoryGroup()
    metrics = AlertMetrics(group, clock_ms=lambda: NOW)
    alert = {"last_seen_ms": NOW - 2_000, "evidence": [{"timestamp_ms": NOW - 9_000}]}
    assert metrics.alert(alert) is alert
    metrics.alert({"evidence": [{"timestamp_ms": NOW - 20_000}, {"timestamp_ms": NOW - 400}]})
    values = group.values()
    assert values["alerts"] == 2
    assert values["event_to_alert_latency_ms_sum"] == 2_400
    assert values["le=500/event_to_alert_latency_ms_bucket"] == 1
    assert values["le=5000/event_to_alert_latency_ms_bucket"] == 2


def test_late_records_are_counted() -> None:
    group = MemoryGroup()
    late = LateMetrics(group)
    assert late.count(None) is None
    assert late.count({"reason": "behind_watermark"}) == {"reason": "behind_watermark"}
    assert group.values()["late_records"] == 1


def test_the_analyzer_outcome_feeds_the_counts() -> None:
    """Records in equals records given; parsed + dead = records; the lag is the event's own time."""
    analyzer = Analyzer(JobConfig())
    metrics, group = _metrics()
    records = [orjson.dumps({"event_id": f"e{i}", "timestamp": "2024-05-01T10:00:00Z", "host": "h1",
                             "attck_technique": "T1059"}) for i in range(4)] + [b"not json at all"]
    for i, payload in enumerate(records):
        metrics.outcome(analyzer.analyze("file", "in.jsonl", 0, i, payload))
    metrics.flush()
    values = group.values()
    assert values["records_in"] == 5 and values["events_parsed"] == 4 and values["dead_letters"] == 1
    assert values["technique_hits"] >= 4
    assert values["event_time_lag_ms_sum"] == 4 * (NOW - 1_714_557_600_000)


def test_log_lines_carry_the_bound_context() -> None:
    stream = io.StringIO()
    jsonlog.configure(stream=stream)
    try:
        jsonlog.bind(job_id="0" * 32, operator="analyze", subtask=1, nothing=None)
        jsonlog.log("hello", password="x")
    finally:
        jsonlog.unbind("job_id", "operator", "subtask")
        jsonlog.configure(level=logging.INFO)
    line = orjson.loads(stream.getvalue().splitlines()[-1])
    assert line["job_id"] == "0" * 32 and line["operator"] == "analyze" and line["subtask"] == 1
    assert "nothing" not in line and line["password"] == "[REDACTED]"


def test_metrics_port_option_and_the_minicluster_lib(tmp_path: Path) -> None:
    import pytest

    from jobs.cli import build_parser
    from jobs.local.metrics import FACTORY, minicluster_lib, prometheus_jar, reporter_settings

    parser = build_parser()
    assert parser.parse_args(["run", "--metrics-port", "9249-9260"]).metrics_port == "9249-9260"
    for bad in ("x", "0", "9249-", "70000"):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--metrics-port", bad])
    assert reporter_settings("9300") == {"metrics.reporter.prom.factory.class": FACTORY,
                                         "metrics.reporter.prom.port": "9300"}
    lib = minicluster_lib(tmp_path)
    assert (lib / prometheus_jar().name).resolve() == prometheus_jar()
    assert any(p.name.startswith("flink-dist") for p in lib.iterdir()), "the package's own lib/ jars too"
    assert minicluster_lib(tmp_path) == lib, "made once"


def test_every_reason_the_normalizer_writes_has_its_own_label() -> None:
    """A reason missing from DEAD_LETTER_REASONS would count as ``other``: read them from the source."""
    import re

    from udfs.metrics import DEAD_LETTER_REASONS

    root = Path(__file__).resolve().parents[2] / "udfs"
    written = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        written |= set(re.findall(r'NormalizeError\(\s*"([a-z_]+)"', text))
        written |= set(re.findall(r'_dead\([^)]*?"([a-z_]+)"', text))
        written |= set(re.findall(r'dead_letter\([^)]*?origin, "([a-z_]+)"', text))
    assert {"not_json", "schema", "oversized_output"} <= written, "the scan must find what it looks for"
    assert written <= DEAD_LETTER_REASONS, written - DEAD_LETTER_REASONS
