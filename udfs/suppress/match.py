"""Suppression decided per hit, in the analyze step: precompiled rules, indexed by rule id and technique.

:class:`Suppressor` answers, for one hit and its event, one of three things:

- ``None``: no active rule takes it (the common case: a hit of a rule or technique that no suppression
  names costs one dict lookup, the candidates being cached per (rule id, techniques));
- :class:`Verdict` with ``how="match"``: a rule without a companion takes it; the hit leaves the main
  path here, to the ``suppressed`` output (:meth:`Suppressor.record`);
- :class:`Verdict` with ``how="companion"``: a companion rule's stateless conditions hold; whether a
  companion event was seen near it is state, decided in the JVM (:mod:`udfs.suppress.sql`). The hit
  is *held*: it travels as a ``held`` row with :attr:`Verdict.key`.

:meth:`Suppressor.companions` says which companion rules an event is a companion for (with their keys):
those become ``companion`` rows. All of it is stateless; nothing here needs Flink.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import translate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from schemas.suppression import DAYS, FieldTest, Match, Schedule, SuppressionRule, Window
from udfs.correlate.fields import resolve, scalar
from udfs.detect.detector import entity_host, entity_user
from udfs.link.canonical import canonical_host, canonical_user
from udfs.link.inventory import InventoryIndex, inventory_files, load_inventory_files
from udfs.suppress.rules import LoadedRule

_DAY_MS = 86_400_000
_CACHE_MAX = 4096

Test = Callable[[Any], bool]


def _texts(value: Any) -> list[str]:
    """A field value as case-folded texts: a list gives each element."""
    items = value if isinstance(value, list) else [value]
    return [t for t in (scalar(v) for v in items) if t is not None]


def _wildcards(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{translate(p.strip().lower())})" for p in patterns), re.DOTALL)


def field_test(test: FieldTest) -> Test:
    """One field's test as a function of the resolved value (None: the field is absent: never holds)."""
    parts: list[Callable[[list[str]], bool]] = []
    if test.equals is not None:
        want = scalar(test.equals)
        parts.append(lambda texts: want in texts)
    if test.any_of is not None:
        wanted = frozenset(t for t in (scalar(v) for v in test.any_of) if t is not None)
        parts.append(lambda texts: not wanted.isdisjoint(texts))
    if test.wildcard is not None:
        pattern = _wildcards([test.wildcard] if isinstance(test.wildcard, str) else test.wildcard)
        parts.append(lambda texts: any(pattern.match(t) for t in texts))

    def holds(value: Any) -> bool:
        texts = _texts(value)
        return bool(texts) and all(part(texts) for part in parts)

    return holds


def _in_window(window: Window) -> Callable[[int, int], bool]:
    """(weekday, minute of day) -> inside; a window past midnight belongs to the day it starts on."""
    days = frozenset(DAYS.index(d) for d in window.days)
    start, end = Window.minutes(window.start), Window.minutes(window.end)
    if start < end:
        return lambda day, minute: day in days and start <= minute < end
    return lambda day, minute: (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end)


def schedule_test(schedule: Schedule) -> Callable[[int], bool]:
    """Event time (epoch ms) -> inside one of the windows, in the schedule's zone."""
    windows = [_in_window(w) for w in schedule.windows]
    if schedule.timezone == "UTC":
        def at(ts_ms: int) -> tuple[int, int]:
            days, ms = divmod(ts_ms, _DAY_MS)
            return (days + 3) % 7, ms // 60_000  # 1970-01-01 was a Thursday (weekday 3)
    else:
        zone = ZoneInfo(schedule.timezone)

        def at(ts_ms: int) -> tuple[int, int]:
            local = datetime.fromtimestamp(ts_ms / 1000, zone)
            return local.weekday(), local.hour * 60 + local.minute

    def inside(ts_ms: int) -> bool:
        day, minute = at(ts_ms)
        return any(w(day, minute) for w in windows)

    return inside


@dataclass(frozen=True)
class AssetTags:
    """The inventory's tags and role per host (by the host name alerts use), for ``asset_tags`` / ``asset_roles``."""

    tags: dict[str, frozenset[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | None) -> AssetTags:
        if not path:
            return cls()
        tags: dict[str, frozenset[str]] = {}
        roles: dict[str, str] = {}
        if not inventory_files(Path(path)):
            return cls()
        for asset in load_inventory_files(Path(path)).assets:
            name = canonical_host(asset.name) or asset.name.lower()
            tags[name] = frozenset("_".join(t.strip().lower().replace("-", " ").split()) for t in asset.tags)
            if asset.role:
                roles[name] = asset.role
        return cls(tags, roles)


@dataclass
class Subject:
    """What the conditions read of one hit (or, for a companion, one event): resolved lazily, once."""

    hit: dict[str, Any]
    event: dict[str, Any]
    inventory: InventoryIndex
    _host: str | bool | None = False  # False: not resolved yet

    def host_names(self) -> list[str]:
        raw = self.hit.get("host") or entity_host(self.event)
        if not raw:
            return []
        names = [str(raw).strip().lower()]
        known = self.host()
        return [*names, known] if known and known != names[0] else names

    def host(self) -> str | None:
        if self._host is False:
            raw = self.hit.get("host") or entity_host(self.event)
            self._host = self.inventory.host(str(raw)) if raw else None
        return self._host  # type: ignore[return-value]

    def user_names(self) -> list[str]:
        raw = self.hit.get("user") or entity_user(self.event)
        if not raw:
            return []
        names = [str(raw).strip().lower()]
        canon = canonical_user(str(raw))
        return [*names, canon] if canon and canon != names[0] else names

    def user(self) -> str | None:
        raw = self.hit.get("user") or entity_user(self.event)
        return self.inventory.user(str(raw)) or canonical_user(str(raw)) if raw else None

    def ips(self) -> list[str]:
        out = []
        for side in ("source", "destination", "host"):
            value = (self.event.get(side) or {}).get("ip")
            out += value if isinstance(value, list) else [value] if value else []
        return [str(v) for v in out]


def _ids_test(match: Match) -> Callable[[dict[str, Any]], bool] | None:
    """Techniques (a parent takes its subs) AND rule ids, on one hit; None when the match names neither."""
    techniques, rule_ids = frozenset(match.techniques), frozenset(match.rule_ids)
    if not techniques and not rule_ids:
        return None

    def holds(hit: dict[str, Any]) -> bool:
        if rule_ids and hit.get("rule_id") not in rule_ids:
            return False
        return not techniques or any(t in techniques or t.split(".", 1)[0] in techniques
                                     for t in hit.get("techniques") or ())

    return holds


def _condition_tests(match: Match, assets: AssetTags) -> list[Callable[[Subject], bool]]:
    """Every condition of ``match`` but the ids, cheapest first."""
    tests: list[Callable[[Subject], bool]] = []
    if match.hosts:
        hosts = _wildcards(match.hosts)
        tests.append(lambda s: any(hosts.match(n) for n in s.host_names()))
    if match.users:
        users = _wildcards(match.users)
        tests.append(lambda s: any(users.match(n) for n in s.user_names()))
    if match.asset_roles:
        roles = frozenset(match.asset_roles)
        tests.append(lambda s: assets.roles.get(s.host() or "") in roles)
    if match.asset_tags:
        wanted = frozenset(match.asset_tags)
        tests.append(lambda s: not wanted.isdisjoint(assets.tags.get(s.host() or "", ())))
    if match.ips:
        nets = [ipaddress.ip_network(n, strict=False) for n in match.ips]
        tests.append(lambda s: any(_in_nets(ip, nets) for ip in s.ips()))
    for path, test in match.fields.items():
        check = field_test(test)
        tests.append(lambda s, path=path, check=check: check(resolve({**s.hit, "event": s.event}, path)))
    return tests


def _in_nets(text: str, nets: list[Any]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address in net for net in nets)


@dataclass
class CompiledRule:
    rule: SuppressionRule
    ids: Callable[[dict[str, Any]], bool] | None
    tests: list[Callable[[Subject], bool]]
    schedule: Callable[[int], bool] | None
    expires_ms: int  # the first millisecond (wall clock, UTC) the rule is no longer in force
    prefix: str  # the suppressed record's JSON up to the hit
    companion_ids: Callable[[dict[str, Any]], bool] | None = None
    companion_tests: list[Callable[[Subject], bool]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.rule.id

    def holds(self, hit: dict[str, Any], subject: Subject) -> bool:
        if self.ids is not None and not self.ids(hit):
            return False
        if self.schedule is not None and not self.schedule(hit["timestamp_ms"]):
            return False
        return all(test(subject) for test in self.tests)

    def key(self, subject: Subject) -> str | None:
        """The companion join key of a hit or an event: None when the rule keys on what it lacks."""
        kind = self.rule.companion.key if self.rule.companion else "none"
        if kind == "none":
            return f"{self.id}|"
        value = subject.host() if kind == "host" else subject.user()
        return f"{self.id}|{value}" if value else None

    def is_companion(self, event: dict[str, Any], hits: list[dict[str, Any]], subject: Subject) -> bool:
        if self.companion_ids is not None and not any(self.companion_ids(h) for h in hits):
            return False
        return all(test(subject) for test in self.companion_tests)


def record_prefix(rule: SuppressionRule, how: str) -> str:
    head = {"suppression_id": rule.id, "reason": rule.reason, "owner": rule.owner,
            "expires": rule.expires.isoformat(), "how": how}
    return orjson.dumps(head).decode()[:-1]


def filter_record(filter_id: str, title: str, signal: str) -> str:
    """The suppressed record of a match a Sigma filter took (the filter decides at match time, in the
    detector; the record says so with ``how: sigma_filter``). Filters have no owner or expiry."""
    head = {"suppression_id": filter_id, "reason": f"Sigma filter: {title}", "owner": None, "expires": None,
            "how": "sigma_filter"}
    return f'{orjson.dumps(head).decode()[:-1]},"hit":{signal}}}'


def compile_rule(rule: SuppressionRule, assets: AssetTags) -> CompiledRule:
    end = datetime(rule.expires.year, rule.expires.month, rule.expires.day, tzinfo=UTC) + timedelta(days=1)
    compiled = CompiledRule(
        rule=rule, ids=_ids_test(rule.match), tests=_condition_tests(rule.match, assets),
        schedule=schedule_test(rule.schedule) if rule.schedule else None,
        expires_ms=int(end.timestamp() * 1000),
        prefix=record_prefix(rule, "companion" if rule.companion else "match"),
    )
    if rule.companion:
        compiled.companion_ids = _ids_test(rule.companion.match)
        compiled.companion_tests = _condition_tests(rule.companion.match, assets)
    return compiled


@dataclass(frozen=True)
class Verdict:
    rule: CompiledRule
    how: str  # "match": suppressed now; "companion": held until the JVM knows
    key: str | None = None  # the companion join key (rule id | host / user / empty)


class Suppressor:
    """The active rules, compiled and indexed. Falsy when there are none: callers skip it entirely."""

    def __init__(self, rules: Iterable[LoadedRule | SuppressionRule], *, inventory: InventoryIndex | None = None,
                 assets: AssetTags | None = None, clock: Callable[[], float] = time.time) -> None:
        assets = assets or AssetTags()
        self.inventory = inventory or InventoryIndex()
        self.rules = [compile_rule(r.rule if isinstance(r, LoadedRule) else r, assets) for r in rules]
        self.clock = clock
        self.by_rule_id: dict[str, list[CompiledRule]] = {}
        self.by_technique: dict[str, list[CompiledRule]] = {}
        self.always: list[CompiledRule] = []
        for compiled in self.rules:
            match = compiled.rule.match
            if match.rule_ids:  # the narrower index when a rule names both (both must hold anyway)
                for rid in match.rule_ids:
                    self.by_rule_id.setdefault(rid, []).append(compiled)
            elif match.techniques:
                for tid in match.techniques:
                    self.by_technique.setdefault(tid, []).append(compiled)
            else:
                self.always.append(compiled)
        self.companion_rules = [c for c in self.rules if c.rule.companion is not None]
        self._candidates: dict[tuple[str, tuple[str, ...]], tuple[CompiledRule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def candidates(self, hit: dict[str, Any]) -> tuple[CompiledRule, ...]:
        key = (hit["rule_id"], tuple(hit.get("techniques") or ()))
        found = self._candidates.get(key)
        if found is None:
            picked = {id(c): c for c in self.by_rule_id.get(key[0], ())}
            for tid in key[1]:
                for c in (*self.by_technique.get(tid, ()), *self.by_technique.get(tid.split(".", 1)[0], ())):
                    picked[id(c)] = c
            picked.update((id(c), c) for c in self.always)
            order = {id(c): n for n, c in enumerate(self.rules)}
            found = tuple(sorted(picked.values(), key=lambda c: order[id(c)]))
            if len(self._candidates) >= _CACHE_MAX:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def check(self, hit: dict[str, Any], event: dict[str, Any]) -> Verdict | None:
        """The first rule (pack order) without a companion that takes the hit, else the first companion
        rule whose own conditions hold (the hit is held for it), else None."""
        candidates = self.candidates(hit)
        if not candidates:
            return None
        now_ms = int(self.clock() * 1000)
        subject = Subject(hit, event, self.inventory)
        held: Verdict | None = None
        for rule in candidates:
            if now_ms >= rule.expires_ms or not rule.holds(hit, subject):
                continue
            if rule.rule.companion is None:
                return Verdict(rule, "match")
            if held is None:
                key = rule.key(subject)
                if key is not None:
                    held = Verdict(rule, "companion", key)
        return held

    def companions(self, event: dict[str, Any], hits: list[dict[str, Any]]) -> list[tuple[CompiledRule, str]]:
        """(rule, key) for each companion rule this event is a companion for."""
        if not self.companion_rules:
            return []
        now_ms = int(self.clock() * 1000)
        subject = Subject({}, event, self.inventory)
        out = []
        for rule in self.companion_rules:
            if now_ms < rule.expires_ms and rule.is_companion(event, hits, subject):
                key = rule.key(subject)
                if key is not None:
                    out.append((rule, key))
        return out

    @staticmethod
    def record(verdict: Verdict, signal: str) -> str:
        """The suppressed record: the rule's id, reason, owner, expiry and how, then the hit (its signal JSON)."""
        return f'{verdict.rule.prefix},"hit":{signal}}}'
