"""The throughput benchmark's event mix (bench/mix.py): deterministic, re-hosted consistently, with
its planted sequences in place. Reads ../shared/samples (skips where it is absent)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from schemas.event import Origin
from udfs.detect.detector import load_detector
from udfs.link.canonical import canonical_host
from udfs.link.facts import binding_facts
from udfs.normalize.normalizer import Normalizer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent"),
]


def _load_mix():
    spec = importlib.util.spec_from_file_location("bench_mix", ROOT / "bench" / "mix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mix"] = module
    spec.loader.exec_module(module)
    return module


mix = _load_mix()
ORIGIN = Origin(topic="test", partition=0, offset=0)


@pytest.fixture(scope="module")
def detector():
    return load_detector()


@pytest.fixture(scope="module")
def built():
    return mix.build_mix(3_000, hosts=100, seed=2, planted_every=300)


def _event(payload: bytes) -> dict:
    event = Normalizer(None).normalize(payload, ORIGIN).event
    assert event is not None, payload[:300]
    return event


def test_deterministic_for_a_seed() -> None:
    first = mix.generate(800, hosts=50, seed=3)
    assert first == mix.generate(800, hosts=50, seed=3)
    assert first != mix.generate(800, hosts=50, seed=4)
    assert len(set(first)) == len(first)  # record ids renumbered: no two events share their bytes


def test_rehosting_keeps_host_and_address_bound(built) -> None:
    stats = mix.measure(built.events, built.hosts)
    assert stats.dead == 0
    assert stats.ip_fact_events > 0 and stats.bad_bindings == 0
    names = {h.short for h in built.hosts}
    ips = {h.ip for h in built.hosts}
    for payload, ts in zip(built.events, built.times, strict=True):
        event = _event(payload)
        assert abs(event["timestamp_ms"] - ts) < 1000  # second-resolution sources truncate
        host = canonical_host((event.get("host") or {}).get("name"))
        if event["source_format"] not in ("zeek", "suricata", "okta", "entra_id", "cloudtrail") and host:
            assert host in names
        for fact in binding_facts(event):
            if fact["subject"].startswith("ip:") and fact["value"]:
                assert fact["subject"][3:] in ips
                assert built.hosts[[h.ip for h in built.hosts].index(fact["subject"][3:])].short == fact["value"]


def test_event_time_is_steady_with_bounded_jitter(built) -> None:
    step = 1000 / 100.0
    for i, ts in enumerate(built.times):
        assert 0 <= ts - (mix.T0 + int(i * step)) < 5_000


def test_planted_sequences_are_present(built, detector) -> None:
    assert len(built.planted) == mix.planted_count(3_000, hosts=100, seed=2, planted_every=300) == 10
    by_short = {h.short: h for h in built.hosts}
    rules = {p.rule_id for p in built.planted}
    assert rules == {mix.INJECTION_RULE, mix.LATERAL_RULE}
    # one alert each: no two sequences of one rule interleave on one host
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for seq in built.planted:
        span = (built.times[seq.first], built.times[seq.last])
        for other in spans.get((seq.rule_id, seq.host), []):
            assert span[1] < other[0] or other[1] < span[0]
        spans.setdefault((seq.rule_id, seq.host), []).append(span)
    for seq in built.planted:
        host = by_short[seq.host]
        first, last = _event(built.events[seq.first]), _event(built.events[seq.last])
        first_techs = {t for h in detector.detect(first) for t in h["techniques"]}
        last_techs = {t for h in detector.detect(last) for t in h["techniques"]}
        assert canonical_host(first["host"]["name"]) == host.short
        assert first["timestamp_ms"] < last["timestamp_ms"]
        if seq.rule_id == mix.INJECTION_RULE:
            assert last["timestamp_ms"] - first["timestamp_ms"] <= 15 * 60_000
            assert any(t.startswith("T1055") for t in first_techs)
            assert any(t.startswith("T1071") for t in last_techs)
            assert last["source_format"] in ("zeek", "suricata")
            assert last["source"]["ip"] == host.ip  # the C2 record's initiator is the injected host
            binding = _event(built.events[seq.binding])
            assert binding["timestamp_ms"] < last["timestamp_ms"]
            assert {"subject": f"ip:{host.ip}", "value": host.short} in [
                {"subject": f["subject"], "value": f["value"]} for f in binding_facts(binding)
            ]
        else:
            assert last["timestamp_ms"] - first["timestamp_ms"] <= 30 * 60_000
            assert any(t.startswith("T1003") for t in first_techs)
            assert any(t.startswith(("T1569", "T1021")) for t in last_techs)
            assert canonical_host(last["host"]["name"]) == host.short


def test_hit_and_fact_shares_near_targets() -> None:
    stats = mix.measure(mix.generate(5_000, hosts=500, seed=5))
    assert 0.12 <= stats.hit_events / stats.events <= 0.18
    assert 0.15 <= stats.fact_events / stats.events <= 0.25
