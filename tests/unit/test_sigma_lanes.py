"""Lanes built when the rules load: the same hits as lanes built on first use, no index rebuilt between
events, every kind of event the routing tables know served by a lane that already exists.

The SigmaHQ test reads ../shared/sigma and ../shared/samples and skips where they are absent.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import pytest

from tests.sigma_helpers import (
    engine_from_yaml,
    naive_rule_ids,
    record,
    rule_ids,
    ruleset_from_yaml,
    security_event,
    sigmahq_rule_dirs,
    windows_event,
)
from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.loader import load_rules
from udfs.detect.sigma.routing import (
    CHANNEL_EVENTS,
    FORMATS,
    LINUX_SYSMON_CHANNEL,
    SYSMON_CHANNEL,
    SYSMON_EVENTS,
    WINDOWS_CHANNELS,
    describe,
    known_keys,
    route_key,
)
from udfs.normalize.files import iter_records
from udfs.normalize.normalizer import Normalizer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"

RULES = [
    """
    title: Whoami
    id: 00000000-0000-0000-0000-000000000001
    tags: [attack.discovery, attack.t1033]
    logsource: {product: windows, category: process_creation}
    detection:
      sel: {Image|endswith: '\\whoami.exe'}
      condition: sel
    """,
    """
    title: Log cleared
    id: 00000000-0000-0000-0000-000000000002
    logsource: {product: windows, service: security}
    detection:
      sel: {EventID: 1102}
      condition: sel
    """,
    """
    title: Mimikatz keyword
    id: 00000000-0000-0000-0000-000000000003
    logsource: {product: windows}
    detection:
      keywords: ['sekurlsa::logonpasswords']
      condition: keywords
    """,
    """
    title: Console login
    id: 00000000-0000-0000-0000-000000000004
    logsource: {product: aws, service: cloudtrail}
    detection:
      sel: {eventName: ConsoleLogin, responseElements.ConsoleLogin: Failure}
      condition: sel
    """,
    """
    title: Curl in auditd
    id: 00000000-0000-0000-0000-000000000005
    logsource: {product: linux, category: process_creation}
    detection:
      sel: {Image|endswith: '/curl'}
      condition: sel
    """,
]


def _events() -> list[dict[str, Any]]:
    return [
        windows_event(1, Image="C:\\Windows\\System32\\whoami.exe", CommandLine="whoami /all"),
        windows_event(1, Image="C:\\Windows\\System32\\cmd.exe", CommandLine="sekurlsa::logonpasswords"),
        windows_event(7, ImageLoaded="C:\\x.dll"),
        security_event(1102),
        security_event(4624, LogonType=3),
        security_event(4688, NewProcessName="C:\\Windows\\System32\\whoami.exe"),
        windows_event(4104, channel="Microsoft-Windows-PowerShell/Operational", ScriptBlockText="iex"),
        windows_event(7045, channel="System", ServiceName="x"),
        windows_event(1, channel="Some-Unknown-Channel/Operational", Data="sekurlsa::logonpasswords"),
        record("cloudtrail", {"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}}),
        record(
            "auditd",
            {"type": "EXECVE", "a0": "curl"},
            event={"kind": "event", "category": ["process"], "type": ["start"]},
            process={"executable": "/usr/bin/curl"},
        ),
        record("zeek", {"query": "example.org"}, event={"kind": "event", "dataset": "zeek.dns"}),
        record("okta", {"eventType": "user.session.start"}),
    ]


def test_eager_and_lazy_lanes_give_the_same_hits() -> None:
    eager, lazy = engine_from_yaml(*RULES), SigmaEngine(ruleset_from_yaml(*RULES), eager=False)
    assert len(eager.lanes()) > 0 and not lazy.lanes()
    for event in _events() * 3:
        assert rule_ids(eager, event) == rule_ids(lazy, event) == naive_rule_ids(eager, event)
    assert [rule_ids(eager, e) for e in _events()[:4]] == [
        ["00000000-0000-0000-0000-000000000001"],
        ["00000000-0000-0000-0000-000000000003"],
        [],
        ["00000000-0000-0000-0000-000000000002"],
    ]


def test_known_kinds_are_built_at_load() -> None:
    engine = engine_from_yaml(*RULES)
    built = len(engine.lanes())
    for event in _events():
        engine.match(event)
    assert len(engine.lanes()) == built, "an event of a kind the tables know built a lane on first use"


def test_known_keys_cover_the_routing_tables() -> None:
    keys = known_keys(["dns", "http"])
    described = {source for key in keys for source in describe(key)}
    services = {s for source in described for s in source.services}
    categories = {c for source in described for c in source.categories}
    assert set(WINDOWS_CHANNELS.values()) <= services
    assert {c for cats in SYSMON_EVENTS.values() for c in cats} <= categories
    assert {c for (cats, _) in CHANNEL_EVENTS.values() for c in cats} <= categories
    assert {"registry_add", "registry_delete"} <= categories
    assert {"linux"} <= {source.product for source in described}
    assert {spec.product for spec in FORMATS.values()} <= {source.product for source in described}
    assert ("win", SYSMON_CHANNEL, 1) in keys and ("win", LINUX_SYSMON_CHANNEL, 3) in keys


def test_route_keys_with_the_same_sources_share_lanes() -> None:
    engine = engine_from_yaml(*RULES)
    a = engine.lanes_for(route_key(security_event(4624)))
    b = engine.lanes_for(route_key(security_event(4625)))
    assert a and all(x is y for x, y in zip(a, b, strict=True))


def test_learning_compiles_nothing_until_it_settles() -> None:
    engine = engine_from_yaml(*RULES)
    rng = random.Random(3)
    sysmon = [e for e in _events() if route_key(e) == ("win", SYSMON_CHANNEL, 1)]
    (lane,) = engine.lanes_for(route_key(sysmon[0]))
    search = lane.finder
    for seen in range(1, 1_500):
        event = rng.choice(sysmon)
        assert rule_ids(engine, event) == naive_rule_ids(engine, event)
        if seen < 1_201:  # the first two learning windows: the finder built at load, re-indexed twice
            assert lane.finder is search
    assert lane.stats.retunes == 2
    # Settled: a finder of exactly the literals the index anchors or checks on, not the search set.
    assert lane.finder is not search
    assert {lid for lids in lane.text_ids for lid in lids} == set(lane.used)
    lane.windows[lane._seen + 1] = 50  # a later learning window searches every searchable literal again
    engine.match(sysmon[0])
    assert lane.finder is search


MANY_CLAUSES = """
title: Eight fields
id: 00000000-0000-0000-0000-000000000008
logsource: {product: windows, category: process_creation}
detection:
  sel:
    F1: alpha-common-value-one
    F2: bravo-common-value-two
    F3: charlie-common-value-three
    F4: delta-common-value-four
    F5: echo-common-value-five
    F6: foxtrot-common-value-six
    F7: golf-common-value-seven
    F8: h8rare
  condition: sel
"""


def test_a_settled_anchor_outside_the_search_set_is_dropped_when_learning_resumes() -> None:
    # Seven clauses found in every event, so learning rejects them all; the eighth (the shortest, so
    # the static guess ranks it last and the search set leaves it out) is the one worth anchoring on.
    engine = engine_from_yaml(MANY_CLAUSES)
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf")
    numbers = ("one", "two", "three", "four", "five", "six", "seven")
    common = {
        f"F{n + 1}": f"{word}-common-value-{number}"
        for n, (word, number) in enumerate(zip(words, numbers, strict=True))
    }
    plain = windows_event(1, **common, F8="other")
    rare = windows_event(1, **common, F8="h8rare")
    (lane,) = engine.lanes_for(route_key(plain))
    for seen in range(1_300):
        event = rare if seen % 10 == 0 else plain
        assert rule_ids(engine, event) == naive_rule_ids(engine, event)
    assert lane.used - lane.searched, "settled on a literal outside the search set"
    lane.windows[lane._seen + 1] = 50
    for seen in range(100):
        event = rare if seen % 3 == 0 else plain
        assert (
            rule_ids(engine, event)
            == naive_rule_ids(engine, event)
            == (["00000000-0000-0000-0000-000000000008"] if event is rare else [])
        )


def test_loading_leaves_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    engine_from_yaml(*RULES)
    assert gc.isenabled()
    gc.disable()
    try:
        engine_from_yaml(*RULES)
        assert not gc.isenabled()
    finally:
        gc.enable()


def _sample_events() -> list[dict[str, Any]]:
    normalizer = Normalizer()
    events = []
    for path in sorted(SAMPLES.glob("*/*")):
        if path.suffix not in (".jsonl", ".json", ".log"):
            continue
        for payload, origin in iter_records(path):
            event = normalizer.normalize(payload, origin).event
            if event is not None:
                events.append(event)
    random.Random(11).shuffle(events)  # kinds interleaved, as on a real stream
    return events


@pytest.mark.shared
@pytest.mark.skipif(not sigmahq_rule_dirs() or not SAMPLES.is_dir(), reason="../shared/sigma or samples absent")
def test_sigmahq_on_the_samples_eager_equals_lazy_equals_naive() -> None:
    ruleset = load_rules(sigmahq_rule_dirs(), cache_dir=True)
    eager, lazy = SigmaEngine(ruleset), SigmaEngine(ruleset, eager=False)
    built = len(eager.lanes())
    events = _sample_events()
    assert len(events) > 5_000
    hits = 0
    for event in events:
        got = rule_ids(eager, event)
        assert got == rule_ids(lazy, event)
        assert got == naive_rule_ids(eager, event)
        hits += len(got)
    assert hits > 500  # the samples do fire SigmaHQ rules
    assert len(eager.lanes()) == built, "every kind in the samples had its lane from load"
    assert any(lane.stats.retunes for lane in eager.lanes())  # results held across re-indexing
