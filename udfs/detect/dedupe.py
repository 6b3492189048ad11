"""Hit deduplication: one hit per (rule, entity, window) for the rules that ask for it.

A rule asks with a window length: a technique map with ``dedupe: 1h`` (each entry on its own: a
mimikatz.exe hit after a cmd.exe hit of the same map is a new hit), a Sigma rule with the custom
attribute ``ttpflow.dedupe: 1h`` (or ``ttpflow: {dedupe: 1h}``). Windows are tumbling, aligned to the
epoch (``ts - ts % window``); the entity is the hit's host, else its user, case-folded as the
correlate stage groups them. A hit with neither is always kept: nothing ties it to the others.

Where it runs: ``ttpflow detect`` keeps the first hit it reads per key (:class:`HitDeduplicator`,
file order); the job keeps the earliest in event time, in a Flink SQL step (:mod:`udfs.detect.dedupe_sql`),
before the hits become signals and feed correlation. Both read the windows from
:func:`udfs.detect.detector.dedupe_windows`. Counting rules over a deduplicated rule see one hit per window.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from schemas.rules import duration_ms
from udfs.correlate.fields import scalar
from udfs.errors import Location
from udfs.rulefile import RuleFileError, line_of

DEDUPE_ATTRIBUTE = "ttpflow.dedupe"


def entity_of(hit: dict[str, Any]) -> str | None:
    return scalar(hit.get("host")) or scalar(hit.get("user"))


def window_start(ts_ms: int, window_ms: int) -> int:
    return ts_ms - ts_ms % window_ms


def dedupe_key(hit: dict[str, Any], window_ms: int) -> tuple[str, tuple[str, ...], str, int] | None:
    """(rule, techniques, entity, window start); None when the hit names no entity."""
    entity = entity_of(hit)
    if entity is None:
        return None
    return hit["rule_id"], tuple(hit.get("techniques") or ()), entity, window_start(hit["timestamp_ms"], window_ms)


class HitDeduplicator:
    """The CLI's deduplication: stateful, in reading order. ``default_ms`` applies to every rule
    that names no window of its own."""

    def __init__(self, windows: Mapping[str, int], default_ms: int | None = None) -> None:
        self.windows = dict(windows)
        self.default_ms = default_ms
        self.seen: set[tuple[str, tuple[str, ...], str, int]] = set()
        self.dropped: Counter[str] = Counter()

    def window_ms(self, rule_id: str) -> int | None:
        return self.windows.get(rule_id, self.default_ms)

    def keep(self, hit: dict[str, Any]) -> bool:
        window = self.window_ms(hit["rule_id"])
        key = dedupe_key(hit, window) if window else None
        if key is None:
            return True
        if key in self.seen:
            self.dropped[hit["rule_id"]] += 1
            return False
        self.seen.add(key)
        return True


def _sigma_rule_id(doc: dict[str, Any], path: Path) -> str:
    """The id the Sigma engine gives the rule (``udfs.detect.sigma.parse``): id, name, file stem."""
    raw = doc.get("id")
    if raw:
        try:
            return str(uuid.UUID(str(raw)))
        except ValueError:
            return str(raw)
    return str(doc.get("name") or path.stem)


def _attribute(doc: dict[str, Any]) -> tuple[Any, tuple[str, ...]] | None:
    if DEDUPE_ATTRIBUTE in doc:
        return doc[DEDUPE_ATTRIBUTE], (DEDUPE_ATTRIBUTE,)
    nested = doc.get("ttpflow")
    if isinstance(nested, dict) and "dedupe" in nested:
        return nested["dedupe"], ("ttpflow", "dedupe")
    return None


def sigma_dedupe_windows(files: Iterable[Path]) -> dict[str, int]:
    """Rule id -> window (ms) of the Sigma rules in ``files`` that carry ``ttpflow.dedupe``."""
    out: dict[str, int] = {}
    for path in files:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue  # the Sigma loader reports unreadable files
        if "ttpflow" not in text:  # nearly every file: no YAML parse at all
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue  # reported by the Sigma loader
        for index, doc in enumerate(docs):
            found = _attribute(doc) if isinstance(doc, dict) else None
            if found is None:
                continue
            value, where = found
            try:
                window = duration_ms(value)
                if window <= 0:
                    raise ValueError(f"a duration must be positive, got {value!r}")
            except ValueError as exc:
                line = line_of(text, where) if index == 0 else None
                raise RuleFileError(str(exc), location=Location(str(path), line, ".".join(where))) from None
            out[_sigma_rule_id(doc, path)] = window
    return out

