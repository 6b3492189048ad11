"""A JVM match row (:data:`udfs.correlate.sql.common.MATCH_COLUMNS`) -> the alert draft the
reference engine would have made for the same match."""

from __future__ import annotations

from typing import Any

import orjson

from udfs.correlate.drafts import MAX_EVIDENCE, make_draft, with_step
from udfs.correlate.plan import MatchSpec
from udfs.correlate.risk import KIND as RISK_KIND
from udfs.correlate.risk import risk_details
from udfs.correlate.runtime import KEY_SEPARATOR
from udfs.correlate.sql.chains import EVIDENCE_LIST
from udfs.correlate.sql.common import SEPARATORS
from udfs.link.inventory import InventoryIndex


def evidence_entry(bundle: str, inventory: InventoryIndex) -> dict[str, Any]:
    """The reference's ``evidence_of`` from a hit's bundle: evidence JSON, linked host, user, link host."""
    ev_json, host, user, link_host = bundle.split(SEPARATORS["unit"])
    ev = orjson.loads(ev_json)
    crit = ev.pop("crit", None)
    if crit is None and link_host:
        crit = inventory.criticality.get(link_host)
    return {**ev, "host": host or None, "user": user or None, "asset_criticality": crit}


def group_of(group_by: str | list[str], key: str, kind: str) -> dict[str, str]:
    """The group values as the reference's route names them (see udfs.correlate.sql.common.group_exprs)."""
    if group_by == "entity":
        return {kind: key, "_kind": kind}
    names = [group_by] if isinstance(group_by, str) else list(group_by)
    if not names:
        return {"all": key}
    return dict(zip(names, key.split(KEY_SEPARATOR), strict=True))


class MatchDrafts:
    def __init__(self, specs: dict[str, MatchSpec], inventory: InventoryIndex) -> None:
        self.specs = specs
        self.inventory = inventory

    def _evidence(self, links: str) -> tuple[list[str], list[dict[str, Any]]]:
        steps: list[str] = []
        evidence: list[dict[str, Any]] = []
        for link in links.split(SEPARATORS["record"]) if links else ():
            step, bundle = link.split(SEPARATORS["group"], 1)
            steps.append(step)
            if bundle.startswith(EVIDENCE_LIST):  # an inner correlation's match: its whole timeline
                entries = orjson.loads(bundle[len(EVIDENCE_LIST):])
            else:
                entries = [evidence_entry(bundle, self.inventory)]
            for entry in entries:
                if len(evidence) >= MAX_EVIDENCE:  # as the reference grows a partial: thin the middle
                    del evidence[MAX_EVIDENCE // 2]
                evidence.append(with_step(entry, step))
        return steps, evidence

    def draft(self, row: Any) -> dict[str, Any]:
        rule_id, key, kind, links = row[0], row[1], row[2], row[3]
        spec = self.specs[rule_id]
        details: dict[str, Any] = {}
        if spec.kind.startswith("sigma:") and spec.details:
            head, links = links.split(SEPARATORS["file"], 1)
            metric, first = head.split(SEPARATORS["unit"])
            steps, evidence = self._evidence(links)
            first_ms, last_ms = int(first), evidence[-1]["timestamp_ms"]
            details = {"type": spec.details["type"], "value": float(metric), "condition": spec.details["condition"],
                       "timespan_ms": spec.details["timespan_ms"]}
        elif spec.kind == RISK_KIND:  # head: the summed risk and the signal count (udfs.correlate.sql.risk)
            head, links = links.split(SEPARATORS["file"], 1)
            total, count = head.split(SEPARATORS["unit"])
            steps, evidence = self._evidence(links)
            first_ms, last_ms = evidence[0]["timestamp_ms"], evidence[-1]["timestamp_ms"]
            details = risk_details(spec.details, int(total), int(count), len(evidence))
        else:
            steps, evidence = self._evidence(links)
            times = [e["timestamp_ms"] for e in evidence]
            if spec.kind == "tactic_progression":
                first_ms, last_ms = min(times), max(times)
                details = {"tactics": steps, "within_ms": spec.within_ms}
            else:
                first_ms, last_ms = times[0], times[-1]
        return make_draft(
            rule_id=spec.rule_id, rule_title=spec.title, level=spec.level, kind=spec.kind,
            group_by=spec.draft_group_by, group=group_of(spec.group_by, key, kind), evidence=evidence,
            first_ms=first_ms, last_ms=last_ms, details=details,
        )
