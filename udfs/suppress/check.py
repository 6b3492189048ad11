"""What ``ttpflow rules check`` says of a suppression pack: rules not applied (expired, disabled), and,
given input files, rules that never match them (a rule that takes nothing is dead weight or a typo)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from udfs.suppress.match import Subject, Suppressor
from udfs.suppress.rules import LoadedRule, is_expired, today_utc


@dataclass
class PackReport:
    rules: list[LoadedRule]
    expired: list[LoadedRule] = field(default_factory=list)
    disabled: list[LoadedRule] = field(default_factory=list)
    # given inputs: per active rule id, the hits its own conditions take, and the companion events seen
    taken: Counter[str] | None = None
    companions: Counter[str] | None = None
    events: int = 0

    @property
    def never_matching(self) -> list[LoadedRule]:
        if self.taken is None:
            return []
        return [r for r in self.active if not self.taken[r.rule.id]
                or (r.rule.companion is not None and not (self.companions or {}).get(r.rule.id))]

    @property
    def active(self) -> list[LoadedRule]:
        return [r for r in self.rules if r not in self.expired and r not in self.disabled]

    def warnings(self) -> list[str]:
        out = [f"{r.where}: suppression {r.rule.id} expired on {r.rule.expires.isoformat()}: not applied "
               f"(renew it or remove it; owner {r.rule.owner})" for r in self.expired]
        for r in self.never_matching:
            taken = self.taken[r.rule.id] if self.taken else 0
            if taken and r.rule.companion is not None:
                why = f"its conditions took {taken} hits but no companion event was seen"
            else:
                why = "took no hit"
            out.append(f"{r.where}: suppression {r.rule.id} never matches the given inputs "
                       f"({self.events} events): {why}")
        return out

    def summary(self) -> str:
        return (f"suppressions: {len(self.rules)}  active: {len(self.active)}  expired: {len(self.expired)}  "
                f"disabled: {len(self.disabled)}")


def pack_report(rules: list[LoadedRule], today: date | None = None) -> PackReport:
    day = today or today_utc()
    return PackReport(rules, expired=[r for r in rules if is_expired(r.rule, day)],
                      disabled=[r for r in rules if not r.rule.enabled and not is_expired(r.rule, day)])


def count_matches(report: PackReport, suppressor: Suppressor,
                  analyzed: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]) -> PackReport:
    """Count, over (event, its hits) pairs, the hits each active rule's own conditions take (every
    rule, not only the first that would win) and the events that are each companion rule's companion."""
    taken: Counter[str] = Counter()
    companions: Counter[str] = Counter()
    events = 0
    for event, hits in analyzed:
        events += 1
        for hit in hits:
            subject = Subject(hit, event, suppressor.inventory)
            for rule in suppressor.candidates(hit):
                if rule.holds(hit, subject):
                    taken[rule.id] += 1
        for rule, _ in suppressor.companions(event, hits):
            companions[rule.id] += 1
    report.taken, report.companions, report.events = taken, companions, events
    return report
