"""Correlation in the real job (Flink MiniCluster, ``ttpflow run`` on files): a network-only step
linked to its host, Sigma correlations over ttpflow's own hits, and a chained correlation.

One job run holds every scenario, each on its own hosts.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.jobrun import PROJECT_ROOT, ZEEK_MAP, FileRun, plain_event, run_files, write_jsonl, zeek_conn

MIN = 60_000
T0 = 1_714_557_600_000
SEQ = "ttpflow-seq-injection-then-c2"
LOLBIN_BURST = "4d2e8f6a-3b1c-4e7d-9f0a-5c6b7a8d9e1f"
CHAIN = "c0ffee00-0000-4000-8000-000000000001"

# Three LOLBins on a host, then an EDR alert on it: a correlation over a correlation.
CHAINED = f"""title: LOLBins then an EDR alert
id: {CHAIN}
correlation:
    type: temporal_ordered
    rules: [test_three_lolbins, event:attck_technique]
    group-by: [host]
    timespan: 10m
level: high
---
title: Three LOLBin runs
id: c0ffee00-0000-4000-8000-000000000002
name: test_three_lolbins
correlation:
    type: event_count
    rules: [map:ttpflow-process-names]
    group-by: [host]
    timespan: 10m
    condition: {{gte: 3}}
"""


def _logons(code: int, user: str, start_ms: int, n: int) -> list[dict]:
    """Windows Security logons (flat JSON, as NXLog ships them), one a minute-tenth apart."""
    from datetime import UTC, datetime

    template = json.loads(next(line for line in (PROJECT_ROOT / "tests" / "fixtures" / "normalize" /
                                                 "windows_flat.jsonl").read_text().splitlines()
                               if f'"EventID":{code}' in line))
    out = []
    for i in range(n):
        when = datetime.fromtimestamp((start_ms + i * 6_000) / 1000, UTC).isoformat().replace("+00:00", "Z")
        out.append({**template, "TimeCreated": when, "@timestamp": when, "TargetUserName": user,
                    "RecordNumber": 90_000 + start_ms // 1000 % 10_000 + i})
    return out


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> FileRun:
    tmp = tmp_path_factory.mktemp("correlate")
    rules = tmp / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "technique_maps" / "test_zeek.yaml").write_text(ZEEK_MAP)
    (rules / "correlations" / "mr_test_chain.yml").write_text(CHAINED)
    events = [
        # ws-z1 shows 10.77.0.5 with its T1055; the C2 arrives only as a Zeek conn from that address.
        plain_event("z1-inj", T0, "ws-z1", "T1055", src_ip="10.77.0.5"),
        zeek_conn("Cz1conn", T0 + 5 * MIN, "10.77.0.5", "185.220.101.34"),
        # ws-z2: its C2 conn comes from an address nothing bound: no link, no alert.
        plain_event("z2-inj", T0 + 1000, "ws-z2", "T1055", src_ip="10.77.0.6"),
        zeek_conn("Cz2conn", T0 + 5 * MIN, "10.77.0.99", "185.220.101.34"),
        # ws-z3: linked, but 16 minutes after the injection.
        plain_event("z3-inj", T0 + 2000, "ws-z3", "T1055", src_ip="10.77.0.7"),
        zeek_conn("Cz3conn", T0 + 2000 + 16 * MIN, "10.77.0.7", "185.220.101.34"),
        # ws-l1: four distinct LOLBins in ten minutes (the bundled value_count rule) ...
        *[plain_event(f"l1-{i}", T0 + i * MIN, "ws-l1", process_name=p)
          for i, p in enumerate(["powershell.exe", "certutil.exe", "wmic.exe", "nltest.exe"])],
        # ... ws-l2: the same binary four times is one distinct value.
        *[plain_event(f"l2-{i}", T0 + i * MIN, "ws-l2", process_name="certutil.exe") for i in range(4)],
        # ws-c1: three LOLBins, then an EDR alert: the chained rule; ws-c2: the EDR alert comes first.
        *[plain_event(f"c1-{i}", T0 + i * MIN, "ws-c1", process_name="whoami.exe") for i in range(3)],
        plain_event("c1-edr", T0 + 5 * MIN, "ws-c1", "T1082"),
        plain_event("c2-edr", T0, "ws-c2", "T1082"),
        *[plain_event(f"c2-{i}", T0 + (i + 1) * MIN, "ws-c2", process_name="whoami.exe") for i in range(3)],
        # the bundled brute-force chain: ten failed logons for bf-user, then a success (in the JVM);
        # nine for bf-near, then a success: no alert.
        *_logons(4625, "bf-user", T0 + 20 * MIN, 10), *_logons(4624, "bf-user", T0 + 22 * MIN, 1),
        *_logons(4625, "bf-near", T0 + 20 * MIN, 9), *_logons(4624, "bf-near", T0 + 22 * MIN, 1),
        plain_event("tick", T0 + 60 * MIN, "ws-tick", "T1082"),
    ]
    events.sort(key=lambda e: e["ts"] * 1000 if "ts" in e else _ms(e.get("timestamp") or e["TimeCreated"]))
    path = write_jsonl(tmp / "in.jsonl", events)
    return run_files(tmp, [path], "--rules-dir", str(rules))


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _alerts(job: FileRun, rule_id: str) -> dict[str, dict]:
    found = [a for a in job.alerts if a["rule_id"] == rule_id]
    by_entity = {a["entity"]: a for a in found}
    assert len(by_entity) == len(found), "one alert per entity"
    return by_entity


def test_a_c2_step_seen_only_by_zeek_links_to_the_host_and_fires(job: FileRun) -> None:
    alerts = _alerts(job, SEQ)
    assert set(alerts) == {"ws-z1"}
    evidence = alerts["ws-z1"]["evidence"]
    assert [(e["event_id"], e["source_format"], e["host"]) for e in evidence] == [
        ("z1-inj", "plain_json", "ws-z1"), ("Cz1conn", "zeek", "ws-z1")]
    assert job.late == []


def test_sigma_value_count_over_technique_map_hits(job: FileRun) -> None:
    alerts = _alerts(job, LOLBIN_BURST)
    assert set(alerts) == {"ws-l1"}
    assert len(alerts["ws-l1"]["evidence"]) == 4


def test_a_correlation_over_a_correlation_runs_in_the_chained_operator(job: FileRun) -> None:
    alerts = _alerts(job, CHAIN)
    assert set(alerts) == {"ws-c1"}
    assert [e["event_id"] for e in alerts["ws-c1"]["evidence"]] == ["c1-0", "c1-1", "c1-2", "c1-edr"]
    assert not _alerts(job, "c0ffee00-0000-4000-8000-000000000002"), "the inner rule does not alert alone"


def test_every_alert_validates_and_has_an_ordered_timeline(job: FileRun) -> None:
    assert job.alerts
    for alert in job.alerts:
        times = [e["timestamp_ms"] for e in alert["evidence"]]
        assert times == sorted(times)
        assert alert["first_seen_ms"] == times[0] and alert["last_seen_ms"] == times[-1]
    assert json.dumps(job.alerts)  # plain JSON all the way


def test_the_bundled_brute_force_chain_fires_in_the_jvm(job: FileRun) -> None:
    alerts = [a for a in job.alerts if a["rule_id"] == "2f3a7c1e-5b7d-4c1e-9a55-7d0f3c6b8e21"]
    assert [a["entity"] for a in alerts] == ["bf-user"]
    assert len(alerts[0]["evidence"]) == 11  # the ten failures (the inner count's timeline), then the success
    # the inner count says generate: false: it is not an alert of its own
    assert not [a for a in job.alerts if a["rule_id"] == "6a1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"]
