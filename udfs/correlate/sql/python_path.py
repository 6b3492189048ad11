"""The Python-path rules' view of a hit linked in SQL: the hit dict with ``link`` as the reference
linker (:class:`udfs.link.resolve.Linker`) sets it, so those rules run unchanged."""

from __future__ import annotations

from typing import Any

import orjson

from udfs.link.inventory import InventoryIndex

# The columns of the ``linked`` view the Python path reads (jobs.pipeline selects them in this order).
PYTHON_PATH_COLUMNS = ("signal", "lhost", "luser", "src_host", "dst_host")


def linked_hit(row: Any, inventory: InventoryIndex) -> dict[str, Any]:
    signal, host, user, src_host, dst_host = row[0], row[1], row[2], row[3], row[4]
    hit = orjson.loads(signal)
    hit["link"] = {
        "host": host,
        "user": user,
        "source_host": src_host,
        "destination_host": dst_host,
        "criticality": inventory.criticality.get(host) if host else None,
        "via": [],  # how each value was found is not carried through SQL (no alert field reads it)
    }
    return hit
