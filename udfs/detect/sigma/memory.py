"""Long-lived objects built in bulk (parsed rules, compiled rules, lanes) kept out of the cyclic GC.

Loading SigmaHQ allocates close to a million container objects (closures, sets, tuples, IR nodes)
that live as long as the process. With the collector running, every generation-2 pass walks them
all again: measured, that more than doubled the load time, and re-enabling the collector after a
paused load only moved the cost to the first events (the objects then age through gen0 and gen1,
~0.2 s). So the collector is paused while they are built and they are then frozen (``gc.freeze``):
moved to the permanent generation, never traversed again. Reference counting still frees them;
only reference cycles among them would outlive their use (an engine holds a dozen such objects,
``ipaddress`` caches).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Build long-lived objects inside this block: GC paused, then what was built frozen."""
    enabled = gc.isenabled()
    if enabled:
        # Garbage cycles left from before (a cold load's pySigma objects) must not be frozen with the
        # rest; cheap when the bulk of what exists was frozen by an earlier block.
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
