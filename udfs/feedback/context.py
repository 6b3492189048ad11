"""Registers the ``verdict`` context kind and the ``analyst_feedback`` factor with the context
mechanism (listed in :data:`udfs.context.live.KIND_MODULES`): the handler keeps a
:class:`~udfs.feedback.store.VerdictStore` in ``live.extras["verdict"]``, the factor reads it."""

from __future__ import annotations

from typing import Any

from udfs.context.live import register, register_factor
from udfs.feedback.factor import NAME, AnalystFeedback
from udfs.feedback.store import KIND, VerdictStore

__all__ = ["KIND", "AnalystFeedback", "apply_verdict"]


def apply_verdict(live: Any, update: Any) -> None:
    """One ContextUpdate of kind ``verdict`` (key: the alert id; value: the joined verdict, or None)."""
    store = live.extras.get(KIND)
    if store is None:
        store = live.extras[KIND] = VerdictStore()
    store.apply(update["key"], update["value"])


register(KIND, apply_verdict)
register_factor(NAME, AnalystFeedback)
