"""The Python-side mirror of the context broadcast state: what the scorers read, as dict hits.

One :class:`LiveContext` per Python operator that scores (analyze, score-matches, score,
chained-matches). The operator applies every update it gets from the broadcast (and, after a
(re)start, every entry of the restored broadcast state) with :meth:`LiveContext.apply`, which hands
it to the handler registered for its ``kind``:

- ``asset``, ``identity``, ``change_window``: :mod:`udfs.context.inventory` overlays them on the
  file inventory, in place, so every holder of ``live.inventory`` (the analyzer, the hit rows, the
  scorer, the suppressor) sees them on its next lookup;
- other kinds keep what they need in ``live.extras[kind]`` and score through an
  :class:`udfs.score.scorer.ExtraFactor` built by a factory registered with :func:`register_factor`.

A kind's module registers itself when imported; :data:`KIND_MODULES` lists them (one line each).
No pyflink here.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from udfs.context.updates import ContextUpdate, decode, encode, state_key
from udfs.link.inventory import InventoryIndex

if TYPE_CHECKING:
    from udfs.score.scorer import ExtraFactor, Scorer

# The modules that register context kinds (each calls register / register_factor when imported).
KIND_MODULES: tuple[str, ...] = (
    "udfs.context.inventory",  # asset, identity, change_window
    "udfs.baseline.kind",  # baseline, and the technique_rarity factor
    "udfs.feedback.context",  # verdict, and the analyst_feedback factor
)

_LOG = logging.getLogger(__name__)
Handler = Callable[["LiveContext", ContextUpdate], None]
FactorFactory = Callable[["LiveContext"], "ExtraFactor | None"]
_HANDLERS: dict[str, Handler] = {}
_FACTORIES: dict[str, FactorFactory] = {}


def register(kind: str, handler: Handler) -> None:
    """``handler(live, update)`` applies every update of ``kind``."""
    _HANDLERS[kind] = handler


def register_factor(name: str, factory: FactorFactory) -> None:
    """``factory(live)`` builds one extra factor over ``live`` (or None: nothing to add), once per operator."""
    _FACTORIES[name] = factory


def load_kinds() -> None:
    for module in KIND_MODULES:
        importlib.import_module(module)


def kinds() -> frozenset[str]:
    load_kinds()
    return frozenset(_HANDLERS)


class LiveContext:
    """The file inventory overlaid with the topics' entries (``inventory``, mutated in place), and
    what other kinds keep (``extras``). ``applied`` / ``ignored`` count updates (an unknown kind is
    ignored, not an error: a newer producer may write kinds this job does not know yet)."""

    def __init__(self, inventory: InventoryIndex | None = None) -> None:
        load_kinds()
        self.inventory = inventory if inventory is not None else InventoryIndex()
        self.extras: dict[str, Any] = {}
        self.applied = 0
        self.ignored = 0

    def apply(self, update: ContextUpdate) -> None:
        handler = _HANDLERS.get(update["kind"])
        if handler is None:
            self.ignored += 1
            return
        try:
            handler(self, update)
        except (ValueError, TypeError, KeyError) as exc:  # a context entry never stops the job
            self.ignored += 1
            _LOG.warning("context update not applied", extra={"kind": update["kind"], "key": update["key"],
                                                               "error": str(exc)[:300]})
            return
        self.applied += 1

    def apply_all(self, updates: Iterable[ContextUpdate]) -> None:
        for item in updates:
            self.apply(item)

    def restore(self, entries: Iterable[tuple[str, str]]) -> None:
        """Every entry of the broadcast state (``kind|key`` -> update JSON), after a (re)start."""
        self.apply_all(decode(text) for _, text in entries)

    def receive(self, text: str, state: Any) -> None:
        """One update from the broadcast: into the broadcast state (``put`` / ``remove``: the latest per
        ``kind|key``, a tombstone removes it, so the state stays as large as the topics' live keys),
        then into this mirror. Applied first: a handler may replace the value it wants kept (baselines
        keep each key's cumulative decayed count, udfs.baseline.handler, or None to drop a bounded-out key)."""
        item = decode(text)
        sent = item["value"]
        self.apply(item)
        if item["value"] is None:
            state.remove(state_key(item))
        else:
            state.put(state_key(item), text if item["value"] is sent else encode(item))


def extra_factors(live: LiveContext) -> list[ExtraFactor]:
    """Every registered kind's extra factor over ``live``, in registration order."""
    load_kinds()
    out = []
    for factory in _FACTORIES.values():
        made = factory(live)
        if made is not None:
            out.append(made)
    return out


def bind(scorer: Scorer) -> LiveContext:
    """The live context over ``scorer``'s inventory (the same object its holders share), with the
    registered extra factors added to the scorer."""
    live = LiveContext(scorer.inventory)
    scorer.extra = (*scorer.extra, *extra_factors(live))
    return live


def live_of(function: Any) -> LiveContext:
    """The live context of what a PyFlink wrapper built in ``open``: over its scorer (``.scorer``, the
    analyzer's or the hit rows'), else over its ``.inventory`` (the Python-path route's linking)."""
    scorer = getattr(function, "scorer", None)
    if scorer is None and hasattr(function, "analyzer"):
        scorer = function.analyzer.hit_rows.scorer
    if scorer is None and hasattr(function, "rows"):
        scorer = function.rows.scorer
    return bind(scorer) if scorer is not None else LiveContext(function.inventory)
