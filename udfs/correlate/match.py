"""Does one hit satisfy a step / ``until`` of a rule? Compiled once per rule, evaluated at fan-out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.rules import HitMatcher
from udfs.correlate.predicates import HitPredicate, compile_where


def technique_matches(wanted: str, got: str) -> bool:
    """A parent id (T1055) matches itself and its sub-techniques (T1055.012)."""
    return got == wanted or got.startswith(wanted + ".")


@dataclass(frozen=True)
class CompiledMatcher:
    techniques: tuple[str, ...]
    tactics: frozenset[str]
    rule_ids: frozenset[str]
    where: HitPredicate | None

    @classmethod
    def of(cls, spec: HitMatcher) -> CompiledMatcher:
        return cls(
            techniques=tuple(spec.techniques),
            tactics=frozenset(spec.tactics),
            rule_ids=frozenset(spec.rule_ids),
            where=compile_where(spec.where) if spec.where else None,
        )

    def __call__(self, hit: dict[str, Any]) -> bool:
        kinds = bool(self.techniques or self.tactics or self.rule_ids)
        if kinds and not self._any_kind(hit):
            return False
        return self.where is None or self.where(hit)

    def _any_kind(self, hit: dict[str, Any]) -> bool:
        if self.techniques and any(
            technique_matches(w, g) for g in hit.get("techniques", ()) for w in self.techniques
        ):
            return True
        if self.tactics and not self.tactics.isdisjoint(hit.get("tactics", ())):
            return True
        return bool(self.rule_ids) and hit.get("rule_id") in self.rule_ids
