"""Chains in the JVM: an inner correlation's match comes back as a hit of the rule over it.

The reference hands an inner match to the outer rules as a hit (``udfs.correlate.engine._as_hit``):
its time is the match's last, its id ``correlation:<alert id>``, its group values its fields, and its
evidence list travels along so the outer alert shows one timeline. Here the same hit becomes a row
of the outer rule's pattern input (``CHAIN_COLUMNS``), next to the outer rule's own hits.
"""

from __future__ import annotations

from typing import Any

import orjson

from udfs.correlate.engine import _as_hit
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.runtime import KEY_SEPARATOR
from udfs.correlate.sigma_runtime import SigmaRuntime

CHAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "BIGINT"), ("id", "STRING"), ("bundle", "STRING"), ("gkey", "STRING"), ("gkind", "STRING"),
    ("tags", "ARRAY<STRING>"),
)
EVIDENCE_LIST = "\x1a"  # a bundle that is a whole evidence list (JSON), not one hit's evidence


def evidence_list_bundle(evidence: list[dict[str, Any]]) -> str:
    return EVIDENCE_LIST + orjson.dumps(evidence).decode()


class ChainRows:
    def __init__(self, plan: CorrelationPlan) -> None:
        self.outers = [SigmaRuntime(r) for r in plan.jvm_ordered if any(ref.correlation for ref in r.refs)]

    def rows(self, draft: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The pattern rows an inner match ``draft`` gives its outer rules."""
        hit = _as_hit(draft)
        out = []
        for outer in self.outers:
            refs = outer.matching_refs(hit)
            group = outer._group(hit, refs[0]) if refs else None
            if group is None:
                continue
            tags = [outer.rule_id, *(f"{outer.rule_id}#{i}" for i in refs)]
            bundle = evidence_list_bundle(hit["evidence_list"])
            out.append((hit["timestamp_ms"], hit["hit_id"], bundle, KEY_SEPARATOR.join(group.values()), "fields",
                        tags))
        return out
