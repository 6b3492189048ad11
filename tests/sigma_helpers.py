"""Helpers to test Sigma rules against hand-made events (ttpflow's unit tests; handy for rule authors).

    engine = engine_from_yaml(RULE_TEXT)
    assert rule_ids(engine, windows_event(1, Image="C:\\\\x\\\\mshta.exe", CommandLine="...")) == [...]

Events are plain dicts shaped like ``Event.to_record()``: ECS fields plus ``original`` holding the
vendor's fields, and ``source_format``.
"""

from __future__ import annotations

import hashlib
import itertools
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.loader import RuleSet, load_rules
from udfs.detect.sigma.parse import parse_file
from udfs.detect.sigma.routing import SYSMON_CHANNEL

SHARED_SIGMA = Path(__file__).resolve().parents[2] / "shared" / "sigma"
T0_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
_counter = itertools.count()


def ruleset_from_yaml(*texts: str) -> RuleSet:
    """Parse rule documents given as text (each may hold several YAML documents)."""
    out = RuleSet()
    for number, text in enumerate(texts):
        parsed = parse_file(Path(f"<rule {number}>"), textwrap.dedent(text))
        out.rules.extend(parsed.rules)
        out.filters.extend(parsed.filters)
        out.problems.extend(parsed.problems)
        out.skipped.extend(parsed.skipped)
        out.files += 1
    return out


def engine_from_yaml(*texts: str, placeholders: dict[str, list[str]] | None = None, learn: bool = True) -> SigmaEngine:
    engine = SigmaEngine(ruleset_from_yaml(*texts), placeholders=placeholders, learn=learn)
    problems = engine.report.unsupported
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    return engine


def record(source_format: str, original: dict[str, Any], **ecs: Any) -> dict[str, Any]:
    """A normalized event as the detect stage receives it."""
    digest = hashlib.sha256(repr((next(_counter), original)).encode()).hexdigest()[:16]
    return {
        "schema_version": 1,
        "timestamp_ms": T0_MS,
        "source_format": source_format,
        "parser_version": f"{source_format}/test",
        "raw_sha256": digest,
        "event": ecs.pop("event", {"kind": "event", "category": [], "type": []}),
        "host": ecs.pop("host", {"name": "ws-01", "ip": []}),
        "threat": {"technique_ids": []},
        "origin": {},
        "original": original,
        **ecs,
    }


def windows_event(event_id: int, channel: str = SYSMON_CHANNEL, **fields: Any) -> dict[str, Any]:
    """A Windows event (Sysmon by default) with flat vendor fields, as the Windows normalizers emit."""
    original = {"EventID": event_id, "Channel": channel, "Computer": "ws-01.corp.example", **fields}
    return record("windows_evtx_json", original)


def security_event(event_id: int, **fields: Any) -> dict[str, Any]:
    return windows_event(
        event_id, channel="Security", **{"Provider_Name": "Microsoft-Windows-Security-Auditing", **fields}
    )


def rule_ids(engine: SigmaEngine, event: dict[str, Any]) -> list[str]:
    return [hit["rule_id"] for hit in engine.match(event)]


def naive_rule_ids(engine: SigmaEngine, event: dict[str, Any]) -> list[str]:
    """Every rule of the event's lanes evaluated, no prefilter: the reference the engine must equal."""
    from udfs.detect.sigma.routing import route_key

    found: list[str] = []
    for lane in engine.lanes_for(route_key(event)):
        orig = lane.view(event.get("original") or {})
        get, texts = lane.getter(event, orig), lane.texts(orig)
        for rule in lane.rules:
            if rule.pred(get, texts) and all(keep(get, texts) for keep in rule.filters):
                found.append(engine.rules[rule.index].ir.rule_id)
    return found


def sigmahq_rule_dirs() -> list[Path]:
    return sorted(SHARED_SIGMA.glob("rules*")) if SHARED_SIGMA.is_dir() else []


@cache
def sigmahq_engine() -> SigmaEngine:
    """The whole SigmaHQ tree from ../shared/sigma, loaded once per process (tests share it)."""
    return SigmaEngine(load_rules(sigmahq_rule_dirs(), cache_dir=True))
