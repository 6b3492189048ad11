"""Suppression (negative correlation): known-good hits leave the main path for the ``suppressed`` output.

``rules`` loads the pack, ``match`` decides per hit in the analyze step (stateless: fields, entities,
asset tags, schedules, expiry), ``sql`` joins held hits with companion events in the JVM. See
docs/suppression.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

from udfs.jsonlog import log
from udfs.link.inventory import InventoryIndex
from udfs.suppress.match import AssetTags, Suppressor
from udfs.suppress.rules import LoadedRule, active, load_suppressions


def load_suppressor(rules_dir: Path | str | None, assets_path: Path | str | None = None, *,
                    inventory: InventoryIndex | None = None, announce: bool = False) -> Suppressor:
    """The active rules of ``rules_dir``'s pack, compiled. ``announce``: log each rule not applied
    (expired or disabled) as a warning: the job does this once, when it is built."""
    applied, skipped = active(load_suppressions(rules_dir))
    if announce:
        for loaded in skipped:
            why = "disabled" if not loaded.rule.enabled else f"expired on {loaded.rule.expires.isoformat()}"
            log("suppression rule not applied", level=logging.WARNING, rule=loaded.rule.id, why=why,
                file=loaded.where)
    return Suppressor(applied, inventory=inventory, assets=AssetTags.load(assets_path) if applied else None)


def companion_rules(rules_dir: Path | str | None) -> list[LoadedRule]:
    """The active rules with a companion: the job's graph has the companion join only when there are some."""
    return [r for r in active(load_suppressions(rules_dir))[0] if r.rule.companion is not None]


__all__ = ["Suppressor", "companion_rules", "load_suppressor"]
