"""Decode raw bytes into JSON with the hostile-input limits every parser relies on."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson

from schemas.config import Limits
from udfs.normalize.errors import NormalizeError

DEFAULT_LIMITS = Limits()


def raw_sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise NormalizeError("duplicate_key", f"key {key!r} appears more than once in one object")
        out[key] = value
    return out


_KEY_END_SPACED = re.compile(rb'"\s+:')  # a key end with whitespace before the colon: rare, pretty JSON
_CONTAINERS = (dict, list)


def _may_hide_duplicates(payload: bytes, keys: int) -> bool:
    """True when the text may hold more keys than the ``keys`` decoded: then re-parse strictly.

    Every key ends in ``"`` then optional whitespace then ``:``. ``bytes.count`` finds the compact
    ``":`` form fast; the spaced form (pretty JSON) costs a regex, run only when the compact count
    alone cannot already prove more key ends than keys.
    """
    compact = payload.count(b'":')
    if compact > keys:
        return True
    if _KEY_END_SPACED.search(payload) is None:
        return False
    return compact + len(_KEY_END_SPACED.findall(payload)) > keys


def _count_keys(value: Any, limits: Limits) -> int:
    """Enforce depth and array caps; return how many object keys the decoded value holds.

    Iterative (an explicit stack, not recursion): a Python call per nested object costs more than
    the check itself, and no input depth can exhaust the interpreter's stack here.
    """
    max_depth, max_array = limits.max_depth, limits.max_array
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise NormalizeError("too_deep", f"JSON nesting deeper than {max_depth} levels")
        if type(node) is dict:
            keys += len(node)
            children: Any = node.values()
        else:
            if len(node) > max_array:
                raise NormalizeError("huge_array", f"array of {len(node)} items, cap is {max_array}")
            children = node
        for child in children:
            if type(child) in _CONTAINERS:  # exact types: orjson builds only dict and list
                stack.append((child, depth + 1))
    return keys


def decode_embedded(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """JSON carried as text inside a record (a Log Analytics ``dynamic`` column, a shipper's re-encoded
    object), decoded under the same depth and array caps; ``None`` when the text is not JSON."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(value) in _CONTAINERS:
        _count_keys(value, limits)
    return value


def decode_json_object(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Bytes to a JSON object, or a :class:`NormalizeError` naming what is wrong."""
    if len(payload) > limits.max_bytes:
        raise NormalizeError("oversized", f"{len(payload)} bytes, cap is {limits.max_bytes}")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NormalizeError("invalid_utf8", f"byte {exc.start}: {exc.reason}") from None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise NormalizeError("not_json", str(exc)) from None
    except RecursionError:
        raise NormalizeError("too_deep", "JSON nesting too deep to decode") from None
    if not isinstance(value, dict):
        raise NormalizeError("schema", f"$: expected a JSON object, got {type(value).__name__}")
    keys = _count_keys(value, limits)
    # orjson keeps the last duplicate silently. Every key ends in `":`; when the decoded value holds
    # fewer keys than the text has key endings, a duplicate may exist, so re-parse strictly.
    if _may_hide_duplicates(payload, keys):
        json.loads(payload, object_pairs_hook=_reject_duplicates)
    return value
