"""Ordered technique sequences per entity, over hits fed in event-time order.

The engine is a pure function of (state, hit) and (state, time): the Flink operator buffers hits until
the watermark passes them and then feeds them here in timestamp order, so results do not depend on
arrival order. State is plain data (see :mod:`udfs.correlate.state`) so savepoints stay readable
across versions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from schemas.rules import SequenceRule, SequenceStep

MAX_PARTIALS_PER_RULE = 64
MAX_EVIDENCE = 32


def technique_matches(wanted: str, got: str) -> bool:
    """A parent id (T1055) matches itself and its sub-techniques (T1055.012)."""
    return got == wanted or got.startswith(wanted + ".")


def step_matches(step: SequenceStep, hit: dict[str, Any]) -> bool:
    if step.techniques and any(technique_matches(w, g) for w in step.techniques for g in hit["techniques"]):
        return True
    if step.tactics and set(step.tactics) & set(hit.get("tactics", ())):
        return True
    return bool(step.rule_ids and hit["rule_id"] in step.rule_ids)


def evidence_of(hit: dict[str, Any], step_name: str) -> dict[str, Any]:
    event = hit["event"]
    return {
        "step": step_name,
        "timestamp_ms": hit["timestamp_ms"],
        "event_id": event.get("id"),
        "raw_sha256": event["raw_sha256"],
        "source_format": event.get("source_format"),
        "rule_id": hit["rule_id"],
        "techniques": hit["techniques"],
        "tactics": hit.get("tactics", []),
        "host": hit.get("host"),
        "user": hit.get("user"),
        "asset_criticality": (event.get("host") or {}).get("criticality"),
    }


@dataclass
class Counters:
    partials_capped: int = 0
    evidence_capped: int = 0
    expired: int = 0


class SequenceEngine:
    """Runs every sequence rule for one entity key. State: ``{rule_id: [partial, ...]}``."""

    def __init__(self, rules: list[SequenceRule]) -> None:
        self.rules = {rule.id: rule for rule in rules}
        self.counters = Counters()

    def on_hit(self, partials: dict[str, list[dict[str, Any]]], key: str, hit: dict[str, Any]) -> list[dict]:
        """Advance partial matches with one hit; return completed matches (as alert drafts)."""
        completed: list[dict[str, Any]] = []
        ts = hit["timestamp_ms"]
        for rule in self.rules.values():
            live = [p for p in partials.get(rule.id, []) if ts - p["first_ms"] <= rule.within_ms]
            self.counters.expired += len(partials.get(rule.id, [])) - len(live)
            advanced: list[dict[str, Any]] = []
            finished: dict[str, Any] | None = None
            for partial in live:
                step = rule.steps[partial["next_step"]]
                if ts >= partial["last_ms"] and step_matches(step, hit):
                    grown = self._advance(partial, step, hit)
                    if grown["next_step"] == len(rule.steps):
                        # The earliest partial completes; later ones the same hit completes are subsumed.
                        finished = finished or grown
                        continue
                    advanced.append(grown)
                else:
                    advanced.append(partial)
            if finished is not None:
                completed.append(self._draft(rule, key, finished))
                advanced = [p for p in advanced if p["next_step"] == 0 or p["first_ms"] > finished["first_ms"]]
            if step_matches(rule.steps[0], hit):
                advanced.append(self._advance({"next_step": 0, "first_ms": ts, "last_ms": ts, "evidence": []},
                                              rule.steps[0], hit))
            advanced = _dedupe(advanced)
            if len(advanced) > MAX_PARTIALS_PER_RULE:
                self.counters.partials_capped += len(advanced) - MAX_PARTIALS_PER_RULE
                advanced = advanced[-MAX_PARTIALS_PER_RULE:]
            if advanced:
                partials[rule.id] = advanced
            else:
                partials.pop(rule.id, None)
        return completed

    def expire(self, partials: dict[str, list[dict[str, Any]]], now_ms: int) -> None:
        """Drop partial matches whose window closed before event time ``now_ms``."""
        for rule_id in list(partials):
            rule = self.rules.get(rule_id)
            if rule is None:  # rule removed since the savepoint: its partials can never complete
                self.counters.expired += len(partials.pop(rule_id))
                continue
            live = [p for p in partials[rule_id] if now_ms - p["first_ms"] <= rule.within_ms]
            self.counters.expired += len(partials[rule_id]) - len(live)
            if live:
                partials[rule_id] = live
            else:
                del partials[rule_id]

    def next_deadline(self, partials: dict[str, list[dict[str, Any]]]) -> int | None:
        deadlines = [
            p["first_ms"] + self.rules[rid].within_ms + 1
            for rid, plist in partials.items()
            if rid in self.rules
            for p in plist
        ]
        return min(deadlines) if deadlines else None

    def _advance(self, partial: dict[str, Any], step: SequenceStep, hit: dict[str, Any]) -> dict[str, Any]:
        evidence = list(partial["evidence"])
        if len(evidence) < MAX_EVIDENCE:
            evidence.append(evidence_of(hit, step.name or f"step{partial['next_step'] + 1}"))
        else:
            self.counters.evidence_capped += 1
        return {
            "next_step": partial["next_step"] + 1,
            "first_ms": partial["first_ms"],
            "last_ms": hit["timestamp_ms"],
            "evidence": evidence,
        }

    @staticmethod
    def _draft(rule: SequenceRule, key: str, partial: dict[str, Any]) -> dict[str, Any]:
        ids = "|".join(e["raw_sha256"] + ":" + e["rule_id"] for e in partial["evidence"])
        alert_id = hashlib.sha256(f"{rule.id}|{key}|{ids}".encode()).hexdigest()[:24]
        return {
            "alert_id": alert_id,
            "rule_id": rule.id,
            "rule_title": rule.title,
            "rule_level": rule.level,
            "group_by": rule.group_by,
            "entity": key,
            "first_ms": partial["first_ms"],
            "last_ms": partial["last_ms"],
            "evidence": partial["evidence"],
        }


def _dedupe(partials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two partials at the same step with the same start are the same match."""
    seen: dict[tuple[int, int], dict[str, Any]] = {}
    for p in partials:
        seen.setdefault((p["next_step"], p["first_ms"]), p)
    return list(seen.values())
