"""What is scored: one hit (a signal) or an alert's evidence, as observations with their context resolved.

The factors (:mod:`udfs.score.factors`) read only this: they never look anything up themselves, so
each is a small pure function and the scorer does every inventory lookup once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from udfs.link.inventory import AssetContext, ChangeWindowContext, IdentityContext


@dataclass(frozen=True)
class Observation:
    """One hit or one evidence entry."""

    ref: str  # how reasons name it: the event id, else the rule id
    host: str | None  # the inventory's (or canonical) host name
    user: str | None  # the inventory's (or canonical) user name
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    criticality: int | None = None  # as the event or the link carried it
    authentication: Mapping[str, Any] | None = None  # udfs.score.assurance.auth_facts
    ts: int | None = None  # event time, ms (change windows are checked against it)


@dataclass(frozen=True)
class Subject:
    level: str
    observations: tuple[Observation, ...]
    tactics: tuple[str, ...]  # every observation's tactics, kill-chain order
    assets: Mapping[str, AssetContext] = field(default_factory=dict)  # the hosts the inventory knows
    identities: Mapping[str, IdentityContext] = field(default_factory=dict)  # the users it knows
    # ``host:<name>`` / ``user:<name>`` -> the approved change windows of the subject's hosts and users
    change_windows: Mapping[str, tuple[ChangeWindowContext, ...]] = field(default_factory=dict)
    # An alert's rule and entity (what analyst feedback is counted by); None for a hit's signal.
    rule_id: str | None = None
    entity_type: str | None = None
    entity: str | None = None

    def hosts(self) -> list[str]:
        seen: dict[str, None] = {}
        for obs in self.observations:
            if obs.host:
                seen.setdefault(obs.host, None)
        return list(seen)
