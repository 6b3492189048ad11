"""The context handler of kind ``baseline`` (the shared context mechanism, udfs/context).

An update as the JVM sends it (:mod:`udfs.baseline.sql`): key ``<scope>|<technique>``, value
``{"count", "window_end", "window_ms", "half_life_ms"}``, one per key and closed window. Applied, it
is merged into the decayed counts in ``live.extras["baseline"]`` (:class:`udfs.baseline.state.Baselines`)
and its value is **replaced, in place, by the key's cumulative entry** (``{"entry": {...}}``: decayed
count as of the scope's time, first window, hits). The mechanism stores the update after applying
it, under ``baseline|<key>``, so the broadcast state holds each key's cumulative count and a restore
that re-applies the stored updates rebuilds the same baselines. ``value: None`` deletes the key.
"""

from __future__ import annotations

from typing import Any, Protocol

from udfs.baseline.keys import split_key
from udfs.baseline.state import Baselines, Entry, Settings

KIND = "baseline"


class HasExtras(Protocol):
    extras: dict[str, Any]


def baselines_of(live: HasExtras) -> Baselines | None:
    return live.extras.get(KIND)


def apply_update(live: HasExtras, update: dict[str, Any]) -> None:
    value = update.get("value")
    scope_name, technique = split_key(str(update["key"]))
    baselines: Baselines | None = live.extras.get(KIND)
    if value is None:
        if baselines is not None and scope_name in baselines.scopes:
            scope = baselines.scopes[scope_name]
            for kept in (scope.counts, scope.firsts, scope.hits):
                kept.pop(technique, None)
            if not scope.counts:
                del baselines.scopes[scope_name]
        return
    half_life = int(value.get("half_life_ms") or Settings().half_life_ms)
    window = int(value.get("window_ms") or Settings().window_ms)
    if baselines is None or baselines.settings.half_life_ms != half_life or baselines.settings.window_ms != window:
        # First update, or the job restarted with another --baseline-half-life: from then on that one
        old = baselines
        baselines = live.extras[KIND] = Baselines(Settings(half_life_ms=half_life, window_ms=window))
        if old is not None:
            for name, scope in old.scopes.items():
                for t, count in scope.counts.items():
                    baselines.restore(Entry(scope=name, technique=t, decayed=count, as_of=scope.as_of,
                                            first_ms=scope.firsts[t], hits=scope.hits[t]))
    if "entry" in value:  # a cumulative entry from the broadcast state (a restore)
        entry: Entry = value["entry"]
        baselines.restore(entry)
        return
    kept = baselines.add(scope_name, technique, int(value["count"]), int(value["window_end"]))
    update["value"] = {"entry": kept, "half_life_ms": half_life, "window_ms": window} if kept is not None else None
