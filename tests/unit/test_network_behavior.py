"""Network behaviour rules: which connections count, beacons, volume, long connections, the Python
windows (the reference's), rule errors, and the real samples staying quiet."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.network import NetworkRule
from udfs.network.behavior import Connection, NetworkBehavior, beacon_details, connection_of
from udfs.network.rules import load_network_rules
from udfs.network.windows import NetworkWindows
from udfs.rulefile import RuleFileError

PROJECT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT.parent / "shared" / "samples"
T0 = 1_714_557_600_000  # hour aligned
MIN = 60_000
C2 = "185.220.101.34"


def rule(**fields: object) -> NetworkRule:
    base: dict[str, object] = {"kind": "network_behavior", "id": "beacon", "title": "b", "analytic": "beacon",
                               "techniques": ["T1071"], "window": "1h"}
    return NetworkRule.model_validate({**base, **fields})


def conn(ts: int, src: str = "10.0.0.5", dst: str = C2, port: int | None = 443, out: int | None = 100,
         duration_ms: int | None = 1000) -> Connection:
    return Connection(ts, src, dst, port, out, duration_ms)


def test_regular_connections_are_a_beacon_and_the_details_explain_it() -> None:
    details = beacon_details(rule(), [T0 + i * 5 * MIN + (i % 2) * 1500 for i in range(12)])
    assert details is not None and details["beats"] == 12 and details["interval_s"] == pytest.approx(300, abs=2)
    assert details["jitter"] < 0.01 and "every 300 s" in details["explanation"]


def test_irregular_connections_and_too_few_beats_are_not() -> None:
    rnd = random.Random(7)
    times = sorted(T0 + rnd.randint(0, 59 * MIN) for _ in range(20))
    assert beacon_details(rule(), times) is None
    assert beacon_details(rule(min_connections=6), [T0 + i * 5 * MIN for i in range(5)]) is None


def test_a_burst_is_one_beat() -> None:
    times = [T0 + i * 10 * MIN + j * 200 for i in range(6) for j in range(4)]  # 4 parallel connections a beat
    details = beacon_details(rule(min_interval="10s"), times)
    assert details is not None and details["beats"] == 6 and details["connections"] == 24


@given(st.lists(st.integers(min_value=T0, max_value=T0 + 3_600_000), max_size=60), st.randoms())
@settings(max_examples=200, deadline=None)
def test_the_verdict_does_not_depend_on_arrival_order(times: list[int], rnd: random.Random) -> None:
    shuffled = list(times)
    rnd.shuffle(shuffled)
    assert beacon_details(rule(), sorted(times)) == beacon_details(rule(), sorted(shuffled))


def test_only_external_destinations_on_the_rules_ports_outside_its_exclusions_count() -> None:
    behavior = NetworkBehavior([rule(ports=[443], exclude=["185.220.0.0/16"]), rule(id="any", internal=True)])
    strict, loose = behavior.rules["beacon"], behavior.rules["any"]
    assert not behavior.counts(strict, conn(T0, dst="10.1.2.3"))
    assert behavior.counts(loose, conn(T0, dst="10.1.2.3"))
    assert not behavior.counts(strict, conn(T0, dst=C2)), "excluded network"
    assert behavior.counts(strict, conn(T0, dst="8.8.8.8"))
    assert not behavior.counts(strict, conn(T0, dst="8.8.8.8", port=80))
    assert behavior.feeds(conn(T0, dst="8.8.8.8")) == ["beacon", "any"]


def test_outbound_volume_counts_bytes_sent() -> None:
    volume = rule(id="vol", analytic="outbound_volume", techniques=["T1048"], min_bytes=1000)
    windows = NetworkWindows(NetworkBehavior([volume]))
    for i in range(3):
        windows.add(conn(T0 + i * MIN, out=400, dst=f"8.8.8.{i}"), watermark=T0)
    windows.add(conn(T0 + 5 * MIN, src="10.0.0.6", out=900), watermark=T0)
    [(hit, event)] = windows.due(T0 + 60 * MIN - 1)
    assert hit["rule_id"] == "vol" and hit["techniques"] == ["T1048"] and "exfiltration" in hit["tactics"]
    assert hit["details"]["bytes_out"] == 1200 and hit["details"]["connections"] == 3
    assert hit["timestamp_ms"] == T0 + 60 * MIN - 1 and event["source"]["ip"] == "10.0.0.5"


def test_a_window_decides_once_its_last_millisecond_is_passed_and_late_connections_are_dropped() -> None:
    windows = NetworkWindows(NetworkBehavior([rule()]))
    for i in range(8):
        windows.add(conn(T0 + i * 5 * MIN), watermark=T0)
    assert windows.due(T0 + 60 * MIN - 2) == []
    [(hit, _)] = windows.due(T0 + 60 * MIN - 1)
    assert hit["event"]["id"] == f"beacon:10.0.0.5->{C2}:443@{T0}" and hit["hit_id"].endswith(":beacon")
    windows.add(conn(T0 + 59 * MIN), watermark=T0 + 60 * MIN - 1)
    assert windows.dropped == 1 and windows.open == {}


def test_a_long_connection_is_a_hit_on_the_record_itself() -> None:
    long_rule = rule(id="long", analytic="long_connection", window=None, min_duration="4h")
    behavior = NetworkBehavior([long_rule])
    event = {"timestamp_ms": T0, "raw_sha256": "ab" * 8, "source_format": "zeek",
             "event": {"category": ["network"], "type": ["connection"], "duration_ms": 5 * 3_600_000},
             "source": {"ip": "10.0.0.5", "bytes": 10}, "destination": {"ip": C2, "port": 22}}
    found = connection_of(event)
    assert found is not None
    [hit] = behavior.record_hits(event, found)
    assert hit["event"] is event and hit["details"]["duration_s"] == 18_000
    short = {**event, "event": {**event["event"], "duration_ms": 60_000}}
    assert behavior.record_hits(short, connection_of(short)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "field", "line"), [
    ("kind: network_behavior\nid: x\ntitle: t\nanalytic: beacon\ntechniques: [T1071]\n", "window", None),
    ("kind: network_behavior\nid: x\ntitle: t\nanalytic: beacon\nwindow: 1h\ntechniques: [T9999]\n",
     "techniques.0", 6),
    ("kind: network_behavior\nid: x\ntitle: t\nanalytic: beacon\nwindow: 1h\ntechniques: [T1071]\n"
     "exclude: [not-a-net]\n", "exclude", 7),
])
def test_bad_rules_fail_with_file_line_and_field(tmp_path: Path, text: str, field: str, line: int | None) -> None:
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "bad.yaml").write_text(text)
    with pytest.raises(RuleFileError) as err:
        load_network_rules(tmp_path)
    assert err.value.location is not None and err.value.location.field == field
    assert err.value.location.path.endswith("bad.yaml")
    if line is not None:
        assert err.value.location.line == line


def test_the_bundled_rules_load() -> None:
    rules = {r.id: r for r in load_network_rules(PROJECT / "rules")}
    assert {r.analytic for r in rules.values()} == {"beacon", "outbound_volume", "long_connection"}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
def test_ordinary_traffic_in_the_samples_stays_quiet() -> None:
    from udfs.normalize.files import iter_records
    from udfs.normalize.normalizer import Normalizer

    behavior = NetworkBehavior(load_network_rules(PROJECT / "rules"))
    windows, normalizer = NetworkWindows(behavior), Normalizer()
    seen = hits = 0
    for path in sorted(SAMPLES.glob("*/*.json*")):
        for payload, origin in iter_records(path):
            event = normalizer.normalize(payload, origin).event
            found = connection_of(event) if event is not None else None
            if found is None:
                continue
            seen += 1
            windows.add(found, watermark=-(2**62))
            hits += len(behavior.record_hits(event, found))  # type: ignore[arg-type]
    hits += len(windows.due(2**62))
    assert seen > 20, "the samples hold connections"
    assert hits == 0
