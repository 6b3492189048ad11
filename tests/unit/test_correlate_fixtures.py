"""Builders shared by the correlate / link unit tests: normalized events and hits as the job has them.

Events are the plain dicts of ``schemas.event.Event.to_record()``; hits are the detector's dicts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from schemas.correlation import SigmaCorrelation
from schemas.rules import SequenceRule, TacticProgressionRule
from udfs.correlate.engine import Correlation, RuleSet
from udfs.detect.catalog import default_catalog
from udfs.link.inventory import InventoryIndex
from udfs.link.resolve import Linker
from udfs.testing.harness import EventTimeHarness, Result

MIN = 60_000
T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z


def event(
    name: str,
    ts: int,
    *,
    host: str | None = None,
    fmt: str = "plain_json",
    user: str | dict[str, Any] | None = None,
    src: str | None = None,
    dst: str | None = None,
    host_ips: tuple[str, ...] = (),
    **parts: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp_ms": ts,
        "source_format": fmt,
        "parser_version": f"{fmt}/1",
        "raw_sha256": hashlib.sha256(name.encode()).hexdigest()[:16],
        "id": name,
        "event": {"kind": "event", "category": [], "type": []},
        "host": {"name": host, "ip": list(host_ips)} if host else {"ip": list(host_ips)},
        "threat": {"technique_ids": []},
        "origin": {},
        "original": {},
    }
    if user:
        record["user"] = user if isinstance(user, dict) else {"name": user}
    if src:
        record["source"] = {"ip": src}
    if dst:
        record["destination"] = {"ip": dst}
    for key, value in parts.items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            record[key] = {**record[key], **value}
        else:
            record[key] = value
    return record


def zeek_conn(name: str, ts: int, src: str, dst: str, dport: int = 443, service: str = "ssl") -> dict[str, Any]:
    """A Zeek conn.log record as udfs.normalize.zeek normalizes it: addresses only, no host."""
    original = {"ts": ts / 1000, "uid": name, "id.orig_h": src, "id.orig_p": 51234, "id.resp_h": dst,
                "id.resp_p": dport, "proto": "tcp", "service": service, "conn_state": "SF"}
    return event(name, ts, fmt="zeek", src=src, dst=dst,
                 event={"module": "zeek", "dataset": "zeek.conn", "category": ["network"], "type": ["connection"],
                        "action": "SF"},
                 network={"transport": "tcp", "protocol": service}, original=original)


def hit(ev: dict[str, Any], *techniques: str, rule_id: str = "event:attck_technique", title: str | None = None,
        tactics: list[str] | None = None, level: str = "medium") -> dict[str, Any]:
    host = (ev.get("host") or {}).get("name") or ((ev.get("host") or {}).get("ip") or [None])[0]
    return {
        "schema_version": 1,
        "hit_id": f"{ev['raw_sha256']}:{rule_id}",
        "timestamp_ms": ev["timestamp_ms"],
        "rule_id": rule_id,
        "rule_title": title or rule_id,
        "rule_source": "sigma",
        "level": level,
        "techniques": list(techniques),
        "tactics": default_catalog().tactics_for_all(list(techniques)) if tactics is None else tactics,
        "matched_fields": [],
        "host": host,
        "user": (ev.get("user") or {}).get("name"),
        "event": ev,
    }


def sequence(steps: list[dict[str, Any]], *, within: str = "15m", rule_id: str = "seq", **extra: Any) -> SequenceRule:
    return SequenceRule.model_validate(
        {"kind": "sequence", "id": rule_id, "title": f"{rule_id} title", "within": within, "steps": steps, **extra}
    )


def progression(**extra: Any) -> TacticProgressionRule:
    body = {"kind": "tactic_progression", "id": "prog", "title": "progression", "within": "1h", "min_tactics": 3}
    return TacticProgressionRule.model_validate({**body, **extra})


def ruleset(*rules: SequenceRule | TacticProgressionRule | SigmaCorrelation) -> RuleSet:
    out = RuleSet()
    for rule in rules:
        if isinstance(rule, SequenceRule):
            out.sequences.append(rule)
        elif isinstance(rule, TacticProgressionRule):
            out.progressions.append(rule)
        else:
            out.correlations.append(rule)
    return out


Item = tuple[dict[str, Any], list[dict[str, Any]]]


def run(rules: RuleSet, items: list[Item], *, bound_ms: int = 60_000, lateness_ms: int = 0,
        inventory: InventoryIndex | None = None, watermark_every: int = 1) -> Result:
    harness = EventTimeHarness(Correlation(rules), out_of_orderness_ms=bound_ms, allowed_lateness_ms=lateness_ms,
                               linker=Linker(inventory), watermark_every=watermark_every)
    return harness.run(items)


def with_hits(*pairs: tuple[dict[str, Any], tuple[str, ...]]) -> list[Item]:
    """(event, techniques) pairs -> harness items with one hit per event that has techniques."""
    return [(ev, [hit(ev, *techs)] if techs else []) for ev, techs in pairs]
