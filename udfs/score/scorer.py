"""The scorer: every factor of the formula over a hit (the signal's ``risk``) or an alert draft.

Both go through :meth:`Scorer.severity`, so a signal and an alert are scored the same way. A hit is
scored in the per-event Python step, so that path does plain dict work only (no pydantic); alerts
are few and are validated against :class:`schemas.alert.Alert`.

The hook for what needs state (adaptive baselines per role and technique, analyst feedback per rule
and entity): an :class:`ExtraFactor` returns one more factor, or None when it has nothing to say; it
is multiplied in after the built-in ones and shows in ``severity.factors`` like them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, Protocol

from schemas.alert import Alert, AlertContext, AssetInfo, Evidence, IdentityInfo, Severity
from schemas.config import JobConfig
from udfs.detect.catalog import Catalog, default_catalog
from udfs.link.canonical import canonical_user
from udfs.link.inventory import (
    AssetContext,
    ChangeWindowContext,
    IdentityContext,
    InventoryIndex,
    load_inventory,
)
from udfs.score import factors
from udfs.score.assurance import auth_facts
from udfs.score.formula import Factor, SeverityDict, base_factor, combine
from udfs.score.roles import RoleTable, load_role_table
from udfs.score.subject import Observation, Subject


class ExtraFactor(Protocol):
    """A factor beyond the formula's own (docs/scoring.md, "Extending"): a weight and a sentence, or None."""

    def __call__(self, subject: Subject) -> Factor | None: ...


class Scorer:
    def __init__(self, inventory: InventoryIndex | None = None, roles: RoleTable | None = None,
                 catalog: Catalog | None = None, extra: Sequence[ExtraFactor] = ()) -> None:
        self.inventory = inventory or InventoryIndex()
        self.catalog = catalog or default_catalog()
        self.roles = roles if roles is not None else RoleTable(catalog=self.catalog)
        self.extra = tuple(extra)

    @classmethod
    def from_config(cls, config: JobConfig, inventory: InventoryIndex | None = None) -> Scorer:
        """The job's scorer: the inventory of ``--assets`` and the role table of the rules dir."""
        return cls(inventory if inventory is not None else load_inventory(config.assets_path),
                   load_role_table(config.rules_dir))

    # -- the formula ---------------------------------------------------------------------------------

    def severity(self, subject: Subject) -> SeverityDict:
        base, level = base_factor(subject.level)
        out = [
            level,
            factors.asset_criticality(subject),
            factors.role_technique(subject, self.roles),
            factors.exposure(subject),
            factors.data_sensitivity(subject),
            factors.privilege_tier(subject),
            factors.progression(subject, self.catalog),
            factors.identity_assurance(subject),
            factors.change_window(subject),
        ]
        for extra in self.extra:
            found = extra(subject)
            if found is not None:
                out.append(found)
        return combine(base, out)

    # -- subjects ------------------------------------------------------------------------------------

    def _host(self, name: str | None) -> str | None:
        if not name:
            return None
        return self.inventory.host(name) or self.inventory.host_of_ip.get(name.strip())

    def _user(self, name: str | None) -> str | None:
        return (self.inventory.user(name) or canonical_user(name)) if name else None

    def subject(self, level: str, observations: Iterable[Observation]) -> Subject:
        obs = tuple(observations)
        assets: dict[str, AssetContext] = {}
        identities: dict[str, IdentityContext] = {}
        windows: dict[str, tuple[ChangeWindowContext, ...]] = {}
        seen: set[str] = set()
        changes = self.inventory.change_windows
        for o in obs:
            if o.host and o.host in self.inventory.assets:
                assets[o.host] = self.inventory.assets[o.host]
            if o.user and o.user in self.inventory.identities:
                identities[o.user] = self.inventory.identities[o.user]
            if changes:  # most inventories have none: no lookups then
                for entity in (f"host:{o.host}" if o.host else None, f"user:{o.user}" if o.user else None):
                    if entity in changes:
                        windows[entity] = changes[entity]
            seen.update(o.tactics)
        tactics = tuple(t for t in self.catalog.tactic_order if t in seen)
        return Subject(level=level, observations=obs, tactics=tactics, assets=assets, identities=identities,
                       change_windows=windows)

    def hit_observation(self, hit: Mapping[str, Any]) -> Observation:
        event = hit.get("event") or {}
        return Observation(
            ref=str(event.get("id") or hit["rule_id"]),
            host=self._host(hit.get("host")),
            user=self._user(hit.get("user")),
            techniques=tuple(hit.get("techniques") or ()),
            tactics=tuple(hit.get("tactics") or ()),
            criticality=(event.get("host") or {}).get("criticality"),
            authentication=auth_facts(event),
            ts=hit.get("timestamp_ms"),
        )

    def evidence_observation(self, ev: Mapping[str, Any]) -> Observation:
        return Observation(
            ref=str(ev.get("event_id") or ev.get("step") or ev["rule_id"]),
            host=self._host(ev.get("host")),
            user=self._user(ev.get("user")),
            techniques=tuple(ev.get("techniques") or ()),
            tactics=tuple(ev.get("tactics") or ()),
            criticality=ev.get("asset_criticality"),
            authentication=ev.get("authentication"),
            ts=ev.get("timestamp_ms"),
        )

    # -- what the job emits --------------------------------------------------------------------------

    def hit(self, hit: Mapping[str, Any]) -> SeverityDict:
        """A hit's risk (the signal's ``risk``): the same formula over the one hit, as a plain dict."""
        return self.severity(self.subject(hit["level"], (self.hit_observation(hit),)))

    def alert(self, draft: Mapping[str, Any]) -> dict[str, Any]:
        """A correlation draft (:class:`udfs.correlate.records.Draft`) to a validated :class:`Alert`, as a dict."""
        evidence = draft["evidence"]
        techniques: list[str] = []
        for item in evidence:
            for tid in item["techniques"]:
                if tid not in techniques:
                    techniques.append(tid)
        subject = replace(self.subject(draft["rule_level"], (self.evidence_observation(e) for e in evidence)),
                          rule_id=draft["rule_id"], entity_type=draft["group_by"], entity=draft["entity"])
        hosts = [e["host"] for e in evidence if e.get("host")]
        alert = Alert(
            id=draft["alert_id"],
            rule_id=draft["rule_id"],
            rule_title=draft["rule_title"],
            entity_type=draft["group_by"],  # type: ignore[arg-type]
            entity=draft["entity"],
            host=hosts[0] if hosts else None,
            techniques=techniques,
            tactics=list(subject.tactics),
            first_seen_ms=draft["first_ms"],
            last_seen_ms=draft["last_ms"],
            evidence=[Evidence.model_validate(e) for e in evidence],
            severity=Severity.model_validate(self.severity(subject)),
            rule_kind=draft.get("rule_kind"),
            group=draft.get("group") or {},
            details=draft.get("details") or {},
            links=draft.get("links") or [],
            context=_context(subject),
        )
        return alert.model_dump(mode="json")


def _context(subject: Subject) -> AlertContext | None:
    if not subject.assets and not subject.identities:
        return None
    assets = [AssetInfo(**{**asdict(a), "data_sensitivity": list(a.data_sensitivity)}) for a in subject.assets.values()]
    identities = [IdentityInfo(user=i.user, privilege_tier=i.tier, service_account=i.service_account,
                               mfa_enrolled=i.mfa_enrolled) for i in subject.identities.values()]
    return AlertContext(assets=assets, identities=identities)
