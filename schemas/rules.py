"""Rule files of the correlate stage: sequences and tactic progressions over ATT&CK.

Sigma correlation rules have their own model (:mod:`schemas.correlation`): they are parsed by pySigma.
Technique maps (detect stage, ``rules/technique_maps/``) are at the end.

A rule names *what* it matches (techniques, tactics, rule ids, field predicates) and *how* hits are
grouped (``group_by``); the engines in :mod:`udfs.correlate` decide *when*, in event time.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.event import is_technique_id
from schemas.event_kinds import ANY, PROCESS_START, UNCLASSIFIED, check_kinds

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TECHNIQUE = re.compile(r"^T\d{1,4}(\.\d{1,3})?$")  # loose: T1 is a fine test id

Level = Literal["informational", "low", "medium", "high", "critical"]
# host / user: the linked entity (see udfs.link); entity: the host when there is one, else the user.
NAMED_GROUPS = ("host", "user", "entity")


def duration_ms(text: str | int) -> int:
    """``15m`` -> 900000. Integers are taken as milliseconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a duration like 90s, 15m, 2h or 1d, got {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _check_duration(value: str | int | None) -> str | int | None:
    if value is not None and duration_ms(value) <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return value


def technique_ids(ids: list[str], example: str = "T1055 or T1055.012") -> list[str]:
    """ATT&CK technique ids, upper-cased (a field validator's body, shared by every rule kind)."""
    out = [t.strip().upper() for t in ids]
    for tid in out:
        if not _TECHNIQUE.match(tid):
            raise ValueError(f"expected an ATT&CK technique id like {example}, got {tid!r}")
    return out


class HitMatcher(BaseModel):
    """What one hit must show. Kinds are OR-ed (any technique, any tactic, any rule id); ``where`` is
    AND-ed with them: every field predicate must hold as well."""

    model_config = ConfigDict(extra="forbid")

    techniques: list[str] = Field(default_factory=list, description="a parent id matches its sub-techniques")
    tactics: list[str] = Field(default_factory=list, description="ATT&CK tactic short names")
    rule_ids: list[str] = Field(default_factory=list, description="detection rule ids (Sigma id, map:..., ...)")
    where: dict[str, Any] = Field(
        default_factory=dict,
        description="field predicates on the hit's event: path -> value | [values] | {op: value}",
    )

    @field_validator("techniques")
    @classmethod
    def _technique_ids(cls, ids: list[str]) -> list[str]:
        return technique_ids(ids)

    @field_validator("tactics")
    @classmethod
    def _tactic_names(cls, names: list[str]) -> list[str]:
        return [t.strip().lower().replace("_", "-") for t in names]

    def has_criteria(self) -> bool:
        return bool(self.techniques or self.tactics or self.rule_ids or self.where)


class SequenceStep(HitMatcher):
    name: str | None = None
    count: int = Field(default=1, ge=1, le=1000, description="repeated step: this many matching hits")
    max_gap: str | int | None = Field(
        default=None, description="the step must complete within this time of the previous step's last hit"
    )
    by: list[str] = Field(default_factory=list, description="join keys, compared position by position")
    absent: bool = Field(default=False, description="no matching hit within max_gap of the previous step")

    @field_validator("max_gap")
    @classmethod
    def _gap(cls, value: str | int | None) -> str | int | None:
        return _check_duration(value)

    @model_validator(mode="after")
    def _shape(self) -> SequenceStep:
        if not self.has_criteria():
            raise ValueError("a step needs at least one of techniques, tactics, rule_ids or where")
        if self.absent and self.max_gap is None:
            raise ValueError("an absent step needs max_gap: the time in which no matching hit may appear")
        if self.absent and self.count != 1:
            raise ValueError("an absent step cannot have a count")
        return self

    @property
    def max_gap_ms(self) -> int | None:
        return None if self.max_gap is None else duration_ms(self.max_gap)


class UntilMatcher(HitMatcher):
    @model_validator(mode="after")
    def _shape(self) -> UntilMatcher:
        if not self.has_criteria():
            raise ValueError("until needs at least one of techniques, tactics, rule_ids or where")
        return self


def _group_by(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        if not value:
            raise ValueError("group_by needs at least one field")
        return [str(v) for v in value]
    return value


class SequenceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sequence"]
    id: str = Field(min_length=1)
    title: str
    description: str | None = None
    group_by: str | list[str] = Field(default="host", description="host, user, entity, or field paths")
    by: list[str] = Field(default_factory=list, description="join keys every step must share")
    within: str | int
    level: Level = "high"
    until: UntilMatcher | None = Field(default=None, description="a matching hit cancels open partial matches")
    steps: list[SequenceStep] = Field(min_length=2)

    @field_validator("within")
    @classmethod
    def _within(cls, value: str | int) -> str | int:
        return _check_duration(value)  # type: ignore[return-value]

    @field_validator("group_by")
    @classmethod
    def _group(cls, value: str | list[str]) -> str | list[str]:
        return _group_by(value)

    @property
    def within_ms(self) -> int:
        return duration_ms(self.within)

    def step_keys(self, index: int) -> list[str]:
        """The join-key paths of step ``index``: the rule's ``by`` then the step's own."""
        return [*self.by, *self.steps[index].by]

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-field checks pydantic cannot place on one field: (location, message)."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        if self.steps[0].absent:
            out.append((("steps", 0, "absent"), "the first step cannot be absent: absence needs a step before it"))
        widths = [(i, len(s.by)) for i, s in enumerate(self.steps) if s.by]
        for i, width in widths[1:]:
            if width != widths[0][1]:
                out.append((("steps", i, "by"), f"has {width} join keys but step {widths[0][0]} has {widths[0][1]}: "
                                               "by keys are compared position by position"))
        return out


class TacticProgressionRule(BaseModel):
    """At least ``min_tactics`` distinct tactics, in kill-chain order when ``ordered``, within a window."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tactic_progression"]
    id: str = Field(min_length=1)
    title: str
    description: str | None = None
    group_by: str | list[str] = "host"
    within: str | int
    min_tactics: int = Field(ge=2, le=14)
    ordered: bool = Field(default=True, description="tactics must appear in kill-chain order")
    tactics: list[str] = Field(default_factory=list, description="only these tactics count (default: all)")
    level: Level = "high"

    @field_validator("within")
    @classmethod
    def _within(cls, value: str | int) -> str | int:
        return _check_duration(value)  # type: ignore[return-value]

    @field_validator("group_by")
    @classmethod
    def _group(cls, value: str | list[str]) -> str | list[str]:
        return _group_by(value)

    @field_validator("tactics")
    @classmethod
    def _tactic_names(cls, names: list[str]) -> list[str]:
        return [t.strip().lower().replace("_", "-") for t in names]

    @property
    def within_ms(self) -> int:
        return duration_ms(self.within)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        if self.tactics and len(set(self.tactics)) < self.min_tactics:
            return [(("min_tactics",), f"needs {self.min_tactics} tactics but tactics lists only "
                                       f"{len(set(self.tactics))}")]
        return []


# --- technique maps --------------------------------------------------------------------------------

LEVELS = ("informational", "low", "medium", "high", "critical")
# What a map over a process field applies to when it names no event kinds: process creation, and
# events whose source does not say what they are (the plain JSON form of EDR exports), where a
# process name is all there is. A map over any other field applies to every event unless it says.
DEFAULT_MAP_EVENT_KINDS = (PROCESS_START, UNCLASSIFIED)


def default_map_event_kinds(field: str) -> list[str]:
    return list(DEFAULT_MAP_EVENT_KINDS) if field.startswith("process.") else [ANY]


def _technique_list(ids: list[str]) -> list[str]:
    out: list[str] = []
    for raw in ids:
        tid = raw.strip().upper()
        if not is_technique_id(tid):
            raise ValueError(f"expected an ATT&CK technique id like T1059 or T1059.001, got {raw!r}")
        if tid not in out:
            out.append(tid)
    return out


class TechniqueMapEntry(BaseModel):
    """Values of the map's field (an executable's base name, case-insensitive) -> techniques."""

    model_config = ConfigDict(extra="forbid")

    match: list[str] = Field(min_length=1)
    techniques: list[str] = Field(min_length=1)
    level: str = "medium"
    event_kinds: list[str] | None = Field(
        default=None, description="the event kinds this entry applies to (schemas.event_kinds); default: the map's"
    )

    @field_validator("techniques")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return _technique_list(ids)

    @field_validator("level")
    @classmethod
    def _level(cls, level: str) -> str:
        if level not in LEVELS:
            raise ValueError(f"expected one of {', '.join(LEVELS)}")
        return level

    @field_validator("event_kinds")
    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> list[str] | None:
        return None if kinds is None else check_kinds(kinds)


class TechniqueMapFile(BaseModel):
    """One technique map: one rule (``map:<id>``) whose entries name techniques by a field's value."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^technique_map$")
    id: str = Field(min_length=1)
    title: str | None = Field(default=None, description="the rule's title in hits (default: Technique map <id>)")
    description: str | None = None
    field: str = Field(description="dotted path into the event, e.g. process.name")
    event_kinds: list[str] | None = Field(
        default=None,
        description="the event kinds the map applies to (schemas.event_kinds); an entry may name its own. "
        "Default: process starts (and unclassified records) for a process.* field, else every event",
    )
    dedupe: str | int | None = Field(
        default=None,
        description="keep one hit per entry, entity (host, else user) and window of this length (15m, 1h)",
    )
    entries: list[TechniqueMapEntry]

    @field_validator("event_kinds")
    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> list[str] | None:
        return None if kinds is None else check_kinds(kinds)

    @field_validator("dedupe")
    @classmethod
    def _dedupe(cls, value: str | int | None) -> str | int | None:
        return _check_duration(value)

    @property
    def rule_id(self) -> str:
        return f"map:{self.id}"

    @property
    def kinds(self) -> list[str]:
        """The event kinds the map's entries apply to unless they name their own."""
        return self.event_kinds or default_map_event_kinds(self.field)

    @property
    def rule_title(self) -> str:
        return self.title or f"Technique map {self.id}"

    @property
    def dedupe_ms(self) -> int | None:
        return None if self.dedupe is None else duration_ms(self.dedupe)
