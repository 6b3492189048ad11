"""The prefilter never changes a result: the engine equals evaluating every rule of the lane.

Events are generated from the rules' own literals (so that they do match rules, partly or fully),
mixed with noise, case changes and list values, on the project's pack and on SigmaHQ's process_creation
and Security rules. The engines keep learning while the examples run, so anchors are re-picked
mid-way: that must not change a result either.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sigma_helpers import naive_rule_ids, rule_ids, sigmahq_engine, sigmahq_rule_dirs, windows_event
from udfs.detect.sigma.compile import AllOf, Lits, OneOf
from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.ir import fields_of
from udfs.detect.sigma.loader import load_rules
from udfs.detect.sigma.routing import SYSMON_CHANNEL
from udfs.detect.sigma.values import END, START

ROOT = Path(__file__).resolve().parents[2]


def _literals(req: object, out: set[str]) -> set[str]:
    if isinstance(req, Lits):
        out.update(lit.strip(START + END) for lit in req.literals)
    elif isinstance(req, AllOf | OneOf):
        for child in req.children:
            _literals(child, out)
    return out


def _pool(engine: SigmaEngine, category: str | None, service: str | None) -> tuple[list[str], list[str]]:
    fields: set[str] = set()
    lits: set[str] = set()
    for rule in engine.rules:
        ls = rule.ir.logsource
        if ls.product == "windows" and ls.category == category and ls.service == service:
            fields |= fields_of(rule.ir.condition)
            _literals(rule.compiled.requirement, lits)
    return sorted(fields), sorted(lits)


def _values(pool: list[str]) -> st.SearchStrategy[object]:
    piece = st.one_of(st.sampled_from(pool), st.sampled_from(pool).map(str.upper), st.text(max_size=6))
    text = st.lists(piece, min_size=1, max_size=4).map("".join)
    return st.one_of(text, st.lists(text, max_size=3), st.integers(0, 70000), st.none())


def _event_strategy(fields: list[str], lits: list[str], event_id: int, channel: str):  # type: ignore[no-untyped-def]
    return st.dictionaries(st.sampled_from(fields), _values(lits), max_size=8).map(
        lambda fs: windows_event(event_id, channel=channel, **fs)
    )


def _check(engine: SigmaEngine, event: dict) -> int:  # type: ignore[type-arg]
    found = sorted(rule_ids(engine, event))
    assert found == sorted(naive_rule_ids(engine, event))
    return len(found)


OWN = SigmaEngine(load_rules([ROOT / "rules" / "sigma"], cache_dir=False))
OWN_FIELDS, OWN_LITS = _pool(OWN, "process_creation", None)
NET_FIELDS, NET_LITS = _pool(OWN, "network_connection", None)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_event_strategy(OWN_FIELDS, OWN_LITS, 1, SYSMON_CHANNEL))
def test_own_pack_process_creation(event: dict) -> None:  # type: ignore[type-arg]
    _check(OWN, event)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_event_strategy([*NET_FIELDS, "DestinationIp"], [*NET_LITS, "203.0.113.9", "10.0.0.1"], 3, SYSMON_CHANNEL))
def test_own_pack_network_connection(event: dict) -> None:  # type: ignore[type-arg]
    _check(OWN, event)


needs_shared = pytest.mark.skipif(not sigmahq_rule_dirs(), reason="../shared/sigma absent")


@pytest.mark.shared
@needs_shared
def test_sigmahq_process_creation_and_security() -> None:
    engine = sigmahq_engine()
    rng = random.Random(7)
    matched = 0
    for category, service, event_id, channel in (
        ("process_creation", None, 1, SYSMON_CHANNEL),
        (None, "security", 4624, "Security"),
    ):
        fields, lits = _pool(engine, category, service)
        for _ in range(600):  # crosses the 200-event learning window: anchors change mid-way
            event_fields: dict[str, object] = {}
            for name in rng.sample(fields, k=min(6, len(fields))):
                parts = rng.sample(lits, k=rng.randint(1, 3))
                value = "".join(p.upper() if rng.random() < 0.3 else p for p in parts)
                event_fields[name] = [value, "x"] if rng.random() < 0.1 else value
            if service:
                event_fields["EventID"] = rng.choice([4624, 4625, 4688, 4698, 5145, 4662])
                event_fields.pop("Channel", None)
            event = windows_event(int(event_fields.pop("EventID", event_id)), channel=channel, **event_fields)
            matched += _check(engine, event)
    assert matched > 100  # the events do exercise rules, not just the no-hit path
