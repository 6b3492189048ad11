"""What every correlation rule runtime offers the operator, and the pieces they share.

A runtime is split the way the job is: ``route`` runs at fan-out (stateless, once per hit: does the
hit concern this rule, for which group, with which facts), and ``on_record`` / ``on_time`` /
``deadline`` run in the keyed operator on the plain-data state of one (rule, group) key.

The state of one key is ``parts``: a dict of partial-match id -> plain dict, which the operator keeps
in MapState, and the key's group values (kept beside them, see :mod:`udfs.correlate.operator`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol

from udfs.correlate.fields import resolve, scalar

Parts = dict[str, dict[str, Any]]
KEY_SEPARATOR = "\x1f"  # cannot appear in rule ids or field values we key on (unit separator)
MAX_PARTIALS_PER_KEY = 64


@dataclass
class Counters:
    """Where a bound bit or a match ended; the operator turns deltas into Flink metrics."""

    partials_capped: int = 0
    evidence_capped: int = 0
    window_capped: int = 0
    expired: int = 0
    cancelled: int = 0
    ungrouped: int = 0
    records_late: int = 0
    alerts: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Runtime(Protocol):
    rule_id: str
    stage: int

    def route(self, hit: dict[str, Any], groups: Groups) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """(group values, facts) for each group this hit feeds; empty when the hit is not for this rule."""

    def on_record(self, parts: Parts, rec: dict[str, Any], group: dict[str, str]) -> list[dict[str, Any]]:
        """Apply one routed record (records arrive in event-time order); return completed drafts."""

    def on_time(self, parts: Parts, now_ms: int, group: dict[str, str]) -> list[dict[str, Any]]:
        """Event time reached ``now_ms``: decide absences and closing windows, drop what expired."""

    def deadline(self, parts: Parts) -> int | None:
        """The next event time at which ``on_time`` has something to do."""


def make_key(rule_id: str, group: dict[str, str]) -> str:
    values = [v for k, v in group.items() if not k.startswith("_")]
    return KEY_SEPARATOR.join([rule_id, *values])


def rule_of_key(key: str) -> str:
    return key.split(KEY_SEPARATOR, 1)[0]


class Groups:
    """The groups of one hit under each ``group_by``, worked out once per hit at fan-out: most rules
    share a ``group_by``. Made per hit by the fan-out and handed to every rule's ``route``."""

    def __init__(self, hit: dict[str, Any]) -> None:
        self.hit = hit
        self.found: dict[str | tuple[str, ...], dict[str, str] | None] = {}

    def of(self, group_by: str | list[str] | tuple[str, ...]) -> dict[str, str] | None:
        """The group of the hit under ``group_by``; None when it lacks a value (it cannot be grouped)."""
        marker = group_by if isinstance(group_by, str) else tuple(group_by)
        if marker not in self.found:
            self.found[marker] = _group_values(self.hit, group_by)
        found = self.found[marker]
        return dict(found) if found is not None else None


def _group_values(hit: dict[str, Any], group_by: str | list[str] | tuple[str, ...]) -> dict[str, str] | None:
    if group_by == "entity":
        host = scalar(resolve(hit, "host"))
        if host is not None:
            return {"host": host, "_kind": "host"}
        user = scalar(resolve(hit, "user"))
        return {"user": user, "_kind": "user"} if user is not None else None
    names = [group_by] if isinstance(group_by, str) else list(group_by)
    out: dict[str, str] = {}
    for name in names:
        value = scalar(resolve(hit, name))
        if value is None:
            return None
        out[name] = value
    return out


def partial_entries(parts: Parts) -> list[tuple[str, dict[str, Any]]]:
    """The partial matches of a key in a fixed order (their start, then id): results never depend on
    dict order, which after a restore is the state backend's."""
    items = list(parts.items())
    items.sort(key=lambda item: (item[1].get("first_ms", 0), item[0]))
    return items


def cap_partials(parts: Parts, counters: Counters, limit: int = MAX_PARTIALS_PER_KEY) -> None:
    """Keep the newest ``limit`` partial matches: an old partial is the least likely to complete in its
    window, and a flood of step-one hits must not grow state without bound."""
    items = partial_entries(parts)
    if len(items) > limit:
        for pid, _ in items[: len(items) - limit]:
            del parts[pid]
        counters.partials_capped += len(items) - limit
