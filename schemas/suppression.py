"""Suppression rules (``rules/suppressions/*.yaml``): known-good activity taken off the main path.

A suppressed hit is not a signal and feeds no correlation; it goes to the ``suppressed`` output with
the rule's id and reason (docs/suppression.md). A rule says *what* it takes (``match``: techniques,
rule ids, field conditions, entities, asset tags and roles), *when* (``schedule``: weekly windows)
and, optionally, *what must happen around it* (``companion``: another event within a window).
Every rule expires: an expired rule is inactive, and the job and ``ttpflow rules check`` say so.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.rules import _check_duration, duration_ms, technique_ids

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$|^24:00$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_DAY_ALIASES = {d: i for i, d in enumerate(DAYS)} | {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
# Operators of a field condition (see FieldTest). Values compare case-insensitively, as text.
FIELD_OPS = ("equals", "any_of", "wildcard")


class FieldTest(BaseModel):
    """One field's test, the long form: ``{equals: v}``, ``{any_of: [v, ...]}``, ``{wildcard: p | [p, ...]}``
    (``*`` any run, ``?`` one character). The short forms ``path: value`` and ``path: [values]`` mean
    equals and any_of. Several operators in one test must all hold."""

    model_config = ConfigDict(extra="forbid")

    equals: str | int | bool | None = None
    any_of: list[str | int | bool] | None = None
    wildcard: str | list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> FieldTest:
        if self.equals is None and self.any_of is None and self.wildcard is None:
            raise ValueError(f"a field test needs one of {', '.join(FIELD_OPS)}")
        return self


def _field_test(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"any_of": value}
    return {"equals": value}


class Match(BaseModel):
    """What a hit (or a companion event) must show. Every condition given must hold (AND); within one
    condition, any listed value will do (OR). An empty match takes every hit."""

    model_config = ConfigDict(extra="forbid")

    techniques: list[str] = Field(default_factory=list, description="a parent id takes its sub-techniques")
    rule_ids: list[str] = Field(default_factory=list, description="detection rule ids (Sigma id, map:<id>, ...)")
    fields: dict[str, FieldTest] = Field(
        default_factory=dict, description="ECS dotted path (or a Sigma / vendor name) -> value | [values] | {op: ...}"
    )
    hosts: list[str] = Field(default_factory=list, description="host names, * and ? wildcards, any case")
    users: list[str] = Field(default_factory=list, description="user names, * and ? wildcards, any case")
    ips: list[str] = Field(default_factory=list, description="addresses or CIDR blocks; source or destination")
    asset_tags: list[str] = Field(default_factory=list, description="the host's inventory tags (--assets): any")
    asset_roles: list[str] = Field(default_factory=list, description="the host's inventory role (--assets): any")

    @field_validator("techniques")
    @classmethod
    def _technique_ids(cls, ids: list[str]) -> list[str]:
        return technique_ids(ids, example="T1569 or T1569.002")

    @field_validator("fields", mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        return {k: _field_test(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("ips")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for text in values:
            try:
                ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                raise ValueError(f"expected an address or a CIDR block like 10.0.0.0/8, got {text!r}") from None
        return [v.strip() for v in values]

    @field_validator("asset_tags", "asset_roles")
    @classmethod
    def _tokens(cls, values: list[str]) -> list[str]:
        return ["_".join(v.strip().lower().replace("-", " ").split()) for v in values]


class Window(BaseModel):
    """Days of the week and a time of day range, ``from`` inclusive, ``to`` exclusive; a range whose
    ``to`` is before its ``from`` runs past midnight into the next day."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    days: list[str] = Field(default_factory=lambda: list(DAYS), description="mon..sun (default: every day)")
    start: str = Field(default="00:00", alias="from", description="HH:MM")
    end: str = Field(default="24:00", alias="to", description="HH:MM (24:00: the end of the day)")

    @field_validator("days")
    @classmethod
    def _days(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            day = str(value).strip().lower()
            if day not in _DAY_ALIASES:
                raise ValueError(f"expected a day of the week ({', '.join(DAYS)}), got {value!r}")
            out.append(DAYS[_DAY_ALIASES[day]])
        return out

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> str:
        text = str(value).strip()
        if not _CLOCK.match(text):
            raise ValueError(f"expected a time of day HH:MM, got {value!r}")
        return text

    @staticmethod
    def minutes(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    @model_validator(mode="after")
    def _range(self) -> Window:
        if self.minutes(self.start) == self.minutes(self.end):
            raise ValueError("from and to are the same time: an empty window")
        return self


class Schedule(BaseModel):
    """When the rule applies, on the hit's event time: any of the windows, in ``timezone``."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="UTC", description="an IANA zone name, e.g. Europe/Berlin")
    windows: list[Window] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (expected an IANA name like UTC or Europe/Berlin)") from None
        return name


class Companion(BaseModel):
    """Another event that must be seen near the hit: ``match`` on any normalized event (techniques and
    rule ids, when given, on that event's hits), within ``within`` before the hit (``after``: or after
    it), on the same ``key`` (host, user, or none: anywhere)."""

    model_config = ConfigDict(extra="forbid")

    match: Match
    within: str | int = Field(description="a duration: 10m, 1h")
    direction: Literal["before", "around"] = Field(
        default="before", description="before: the companion precedes the hit; around: before or after it"
    )
    key: Literal["none", "host", "user"] = Field(
        default="none", description="the companion must share the hit's host / user; none: any companion"
    )

    @field_validator("within")
    @classmethod
    def _within(cls, value: str | int) -> str | int:
        return _check_duration(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _criteria(self) -> Companion:
        if self.match == Match():
            raise ValueError("a companion match needs at least one condition: every event would be a companion")
        return self

    @property
    def within_ms(self) -> int:
        return duration_ms(self.within)


class SuppressionRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["suppression"]
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    reason: str = Field(min_length=1, description="why this is known good: on every suppressed record")
    owner: str = Field(min_length=1, description="who answers for it (a person or a team)")
    expires: date = Field(description="YYYY-MM-DD: inactive after this day (UTC)")
    enabled: bool = True
    match: Match = Field(default_factory=Match)
    schedule: Schedule | None = None
    companion: Companion | None = None

    @model_validator(mode="after")
    def _narrow(self) -> SuppressionRule:
        if self.match == Match() and self.schedule is None and self.companion is None:
            raise ValueError("a suppression needs a match, a schedule or a companion: it would take every hit")
        return self


class SuppressionFile(BaseModel):
    """A suppression pack file: one rule (``kind: suppression`` at the top) or ``suppressions: [...]``."""

    model_config = ConfigDict(extra="forbid")

    suppressions: list[SuppressionRule] = Field(min_length=1)
