"""Adaptive baselines (docs/scoring.md, "Adaptive baselines"): how often each technique is seen on
each asset role (or, for hosts without a role, on the host), as decayed counts, and the
``technique_rarity`` factor that weighs a technique by how routine it is there.

Where each part runs: the analyze step names each hit's baseline keys (:mod:`.keys`, in the row's
``keys`` map); the JVM counts them in event-time tumbling windows (:mod:`.sql`) and sends one
``baseline`` context update per key and closed window; the context mechanism (udfs/context) hands
each update to :func:`.handler.apply_update`, which keeps the decayed counts (:mod:`.state`), and the
scorers read them through :func:`.factor.technique_rarity`. Nothing here imports pyflink.
"""

from udfs.baseline.keys import BASE_KEY, baseline_keys, scope_of
from udfs.baseline.state import Baselines, Settings

__all__ = ["BASE_KEY", "Baselines", "Settings", "baseline_keys", "scope_of"]
