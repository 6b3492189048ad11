"""A ``risk_threshold`` rule in the reference engine: the executable spec of its SQL form
(:mod:`udfs.correlate.sql.risk`).

Per entity, signals in event-time order (ties by hit id). A signal at time ``t`` sums with the
entity's *pending* signals of the window (time >= ``t - window``); when the sum reaches the
threshold, with at least ``min_signals`` signals, one alert is raised with those signals as its
evidence, and they are spent: pending starts empty again (the re-arm rule). So an entity that stays
above the threshold does not alert on every later signal; it alerts again only once a whole new
threshold of risk has accumulated, within a window, from signals after the alert.
"""

from __future__ import annotations

from typing import Any

from schemas.risk import RiskThresholdRule
from schemas.rules import LEVELS
from udfs.correlate.drafts import MAX_EVIDENCE, rule_draft, with_step
from udfs.correlate.match import CompiledMatcher
from udfs.correlate.runtime import Counters, Groups, Parts

ENTRY = "pending"
KIND = "risk_threshold"


def step_name(score: int) -> str:
    """An evidence entry's step: the signal's own risk score (the alert's schema has no other place)."""
    return f"risk {score}"


def capped_append(evidence: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    """Append, keeping at most :data:`MAX_EVIDENCE` entries: the middle thins first (as a sequence's
    evidence does), so the first and the latest signals stay."""
    if len(evidence) >= MAX_EVIDENCE:
        del evidence[MAX_EVIDENCE // 2]
    evidence.append(entry)


def rule_facts(rule: RiskThresholdRule) -> dict[str, Any]:
    """What an alert of the rule says of the rule (the JVM path keeps it on its match spec)."""
    return {"threshold": rule.threshold, "window_ms": rule.window_ms, "min_signals": rule.min_signals}


def risk_details(facts: dict[str, Any], total: int, signals: int, shown: int) -> dict[str, Any]:
    """The alert's ``details``: the accumulated risk, the threshold and window, how many signals made
    it and how many of them the evidence (capped) leaves out."""
    return {"risk": total, **facts, "signals": signals, "signals_not_shown": signals - shown}


class SignalFilter:
    """Does a signal count for the rule? Its risk label and the rule's ``signals`` matcher."""

    def __init__(self, rule: RiskThresholdRule) -> None:
        self.min_rank = rule.min_rank
        self.matcher = CompiledMatcher.of(rule.signals)

    def score(self, hit: dict[str, Any], risk: dict[str, Any] | None) -> int | None:
        """The signal's risk score when it counts, else None."""
        if not risk or risk.get("label") not in LEVELS or LEVELS.index(risk["label"]) < self.min_rank:
            return None
        return int(risk["score"]) if self.matcher(hit) else None


class RiskRuntime:
    kind = KIND

    def __init__(self, rule: RiskThresholdRule, counters: Counters | None = None) -> None:
        self.rule = rule
        self.rule_id = rule.id
        self.stage = 1
        self.counters = counters or Counters()
        self.window = rule.window_ms
        self.filter = SignalFilter(rule)

    def route(self, hit: dict[str, Any], groups: Groups) -> list[tuple[dict[str, str], dict[str, Any]]]:
        score = self.filter.score(hit, hit.get("risk"))
        if score is None:
            return []
        group = groups.of(self.rule.group_by)
        if group is None:
            self.counters.ungrouped += 1
            return []
        return [(group, {"risk": score})]

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        ts = rec["ts"]
        pending = [p for p in (parts.get(ENTRY) or {}).get("signals", []) if p["ts"] >= ts - self.window]
        pending.append({"ts": ts, "risk": rec["facts"]["risk"], "ev": rec["evidence"][0]})
        total = sum(p["risk"] for p in pending)
        if total >= self.rule.threshold and len(pending) >= self.rule.min_signals:
            parts.pop(ENTRY, None)  # spent: the entity's risk starts again from zero
            return [self._draft(pending, total, group)]
        parts[ENTRY] = {"signals": pending}
        return []

    def on_time(self, parts: Parts, now_ms: int, group: dict[str, str]) -> list[dict[str, Any]]:
        state = parts.get(ENTRY)
        if state is None:
            return []
        # A later signal sums only with signals at or after its time - window: older ones can never count.
        kept = [p for p in state["signals"] if p["ts"] >= now_ms - self.window]
        if not kept:
            del parts[ENTRY]
            self.counters.expired += 1
        elif len(kept) != len(state["signals"]):
            parts[ENTRY] = {"signals": kept}
        return []

    def deadline(self, parts: Parts) -> int | None:
        state = parts.get(ENTRY)
        if not state or not state["signals"]:
            return None
        return min(p["ts"] for p in state["signals"]) + self.window + 1

    def _draft(self, pending: list[dict[str, Any]], total: int, group: dict[str, str]) -> dict[str, Any]:
        evidence: list[dict[str, Any]] = []
        for p in pending:
            capped_append(evidence, with_step(p["ev"], step_name(p["risk"])))
        details = risk_details(rule_facts(self.rule), total, len(pending), len(evidence))
        return rule_draft(self.rule, KIND, group, evidence, pending[0]["ts"], pending[-1]["ts"], details)
