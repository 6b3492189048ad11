"""The shapes of the records correlation passes around (plain dicts at run time, typed here).

- :class:`Hit`: a technique hit as detect makes it (its edge schema, validated in tests, is
  :class:`schemas.hit.TechniqueHit`), plus the ``link`` the linking stage adds.
- :class:`Evidence`: one hit's entry on an alert's timeline (:class:`schemas.alert.Evidence`).
- :class:`RoutedRecord`: what fan-out sends to one (rule, group) key: small, not the event.
- the per-rule ``facts`` a routed record carries (:class:`SequenceFacts`, :class:`ProgressionFacts`,
  :class:`SigmaFacts`).
- :class:`SequencePartial`: a sequence's partial match, kept in keyed state.
- :class:`Draft`: a completed match, handed to the score stage.

Routed records are buffered in keyed state until the watermark passes them, so their keys are a
stored format: rename one only with a migration in :mod:`udfs.correlate.state`.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

Group = dict[str, str]  # group_by field -> value; keys starting "_" are bookkeeping (``_kind``)


class Link(TypedDict, total=False):
    """How linking tied a hit to its entity (absent when the event named its own host and user)."""

    host: str | None
    user: str | None
    via: list[dict[str, Any]] | None
    criticality: str | None


class Hit(TypedDict):
    hit_id: str
    timestamp_ms: int
    rule_id: str
    rule_title: str
    rule_source: str
    level: str
    techniques: list[str]
    tactics: list[str]
    host: str | None
    user: str | None
    event: dict[str, Any]
    link: NotRequired[Link]
    evidence_list: NotRequired[list[Evidence]]  # an inner correlation's match as a hit: its timeline
    status: NotRequired[str | None]
    matched_fields: NotRequired[list[str]]
    rule_techniques: NotRequired[list[str] | None]
    tags: NotRequired[list[str] | None]
    details: NotRequired[dict[str, Any] | None]  # network behaviour hits: what was seen, explained
    risk: NotRequired[dict[str, Any] | None]  # the hit's severity (udfs.score), on signals


class Evidence(TypedDict):
    timestamp_ms: int
    event_id: str | None
    raw_sha256: str
    source_format: str | None
    rule_id: str
    techniques: list[str]
    tactics: list[str]
    host: str | None
    user: str | None
    asset_criticality: str | None
    step: NotRequired[str]
    authentication: NotRequired[dict[str, Any]]  # sign-in facts (udfs.score.assurance), when the event has them


class SequenceFacts(TypedDict):
    steps: list[int]  # the steps (0-based) this hit matches
    join: dict[str, list[str]]  # per step index (as text): its ``by`` values in this hit
    until: bool  # the hit matches the rule's ``until``


class ProgressionFacts(TypedDict):
    tactics: list[str]  # the hit's tactics the rule counts, in kill-chain order


class SigmaFacts(TypedDict):
    refs: list[int]  # which of the rule's referenced rules this hit is
    value: Any  # the field value counted or summed (value_count, value_sum)


Facts = SequenceFacts | ProgressionFacts | SigmaFacts


class RoutedRecord(TypedDict):
    key: str  # rule id and group values: the keyed operator's key
    ts: int
    hit_id: str
    group: Group
    evidence: list[Evidence]
    facts: Any  # the rule's Facts (one of the three above)


class Absence(TypedDict):
    step: str
    from_ms: int
    to_ms: int


class SequencePartial(TypedDict):
    """Stored (``partials`` MapState, state version 2): rename a key only with a migration."""

    pid: str  # first hit's time and id: stable across restores
    next_step: int  # the step it waits at
    n: int  # hits counted toward ``next_step`` (``count: N`` steps)
    first_ms: int
    last_ms: int
    step_ms: int  # when step ``next_step - 1`` completed: ``max_gap`` counts from here
    join: list[str] | None  # the ``by`` values captured so far
    evidence: list[Evidence]
    absences: list[Absence]


class Draft(TypedDict):
    alert_id: str
    rule_id: str
    rule_title: str
    rule_level: str
    rule_kind: str
    group_by: str  # host | user
    entity: str
    group: Group
    first_ms: int
    last_ms: int
    evidence: list[Evidence]
    links: list[dict[str, Any]]
    details: dict[str, Any]
