"""Field mapping: a Sigma field name to a value of one event, per log source, like pySigma pipelines.

Windows rules name Sysmon / Security fields; the Windows normalizers put exactly those, flat, in
``original`` whatever wrapping the event came in (EVTX JSON, NXLog, Winlogbeat), so a Windows field
is one dict lookup. Other sources keep their vendor document in ``original`` (often nested:
CloudTrail's ``userIdentity.arn``, Okta's ``actor.alternateId``), so a field there is looked up flat,
then as a dotted path, then case-insensitively, then under the pipeline's prefixes (Azure's
``properties``), then through the pipeline's renames to ECS fields of the normalized event, and last
as a dotted path into the normalized event itself (so a rule may name ECS fields directly).

A missing field is ``None``: never an error, never a reason to drop a rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

Accessor = Callable[[dict[str, Any], dict[str, Any]], Any]  # (event record, original) -> value


@dataclass
class Pipeline:
    name: str
    flat: bool = False  # original is flat vendor fields: exact key lookups only
    case_insensitive: bool = False
    prefixes: tuple[str, ...] = ()  # also look for a field under these keys of original
    renames: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> "ecs:a.b" / "orig:X"
    _cache: dict[str, Accessor | None] = field(default_factory=dict, repr=False)

    def special(self, fname: str) -> Accessor | None:
        """The accessor for a field that is not a plain flat lookup in ``original`` (None if it is)."""
        if fname not in self._cache:
            self._cache[fname] = self._build(fname)
        return self._cache[fname]

    def _build(self, fname: str) -> Accessor | None:
        steps: list[Accessor] = []
        dotted = "." in fname
        if self.flat:
            if fname not in self.renames and not dotted:
                return None  # the fast path: original.get(fname)
            steps.append(_orig_key(fname))
        else:
            steps.append(_orig_key(fname))
            if dotted:
                steps.append(_orig_path(fname.split(".")))
            if self.case_insensitive:
                steps.append(_orig_ci(fname.split(".") if dotted else [fname]))
            for prefix in self.prefixes:
                steps.append(_orig_ci([prefix, *fname.split(".")]))
        for target in self.renames.get(fname, ()):
            kind, _, path = target.partition(":")
            steps.append(_record_path(path.split(".")) if kind == "ecs" else _orig_path(path.split(".")))
        if dotted:
            steps.append(_record_path(fname.split(".")))
        if len(steps) == 1:
            return steps[0]
        return _first(steps)


def _first(steps: list[Accessor]) -> Accessor:
    def first(record: dict[str, Any], orig: dict[str, Any]) -> Any:
        for step in steps:
            value = step(record, orig)
            if value is not None:
                return value
        return None

    return first


def _orig_key(key: str) -> Accessor:
    return lambda record, orig: orig.get(key)


def _walk(node: Any, parts: list[str], ci: bool) -> Any:
    for i, part in enumerate(parts):
        if isinstance(node, list):
            # A path through a list of objects (Azure TargetResources[].modifiedProperties): every element.
            found = [_walk(item, parts[i:], ci) for item in node]
            flat = [v for f in found if f is not None for v in (f if isinstance(f, list) else [f])]
            return flat or None
        if not isinstance(node, dict):
            return None
        value = node.get(part)
        if value is None and ci:
            lower = part.lower()
            value = next((v for k, v in node.items() if k.lower() == lower), None)
        node = value
    return node


def _orig_path(parts: list[str]) -> Accessor:
    return lambda record, orig: _walk(orig, parts, False)


def _orig_ci(parts: list[str]) -> Accessor:
    return lambda record, orig: _walk(orig, parts, True)


def _record_path(parts: list[str]) -> Accessor:
    return lambda record, orig: _walk(record, parts, False)


# --- text of values -------------------------------------------------------------------------------


def json_text(value: Any) -> str:
    """A mapping's text, for rules that match inside a JSON object (CloudTrail ``requestParameters``)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return fallback_json(value).decode()


def fallback_json(value: Any) -> bytes:
    """orjson refuses integers beyond 64 bits and lone surrogates; the standard library does not.
    Same separators, same escapes, keys sorted."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return text.encode("utf-8", "surrogatepass")


def texts_of(value: Any) -> Iterator[str]:
    """The texts one field value contributes: scalars as text, lists element-wise, mappings as JSON."""
    if value is None:
        return
    kind = type(value)
    if kind is str:
        yield value
    elif kind is dict:
        yield json_text(value)
    elif kind is list or kind is tuple:
        for item in value:
            yield from texts_of(item)
    elif value is True:
        yield "true"
    elif value is False:
        yield "false"
    else:
        yield str(value)


def leaves(node: Any, depth: int = 0) -> Iterator[str]:
    """Every scalar text inside a document (for keyword rules), depth-capped."""
    if depth > 32:
        return
    if isinstance(node, dict):
        for value in node.values():
            yield from leaves(value, depth + 1)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from leaves(value, depth + 1)
    elif node is not None:
        yield from texts_of(node)
