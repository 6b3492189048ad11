"""Wrappers shippers put around a vendor record, and the dead-letter detail for unknown objects.

A Splunk search export (``{"preview": false, "result": {"_raw": "<the record>", ...}}``) carries the
original record as text in ``result._raw``: unwrapping it lets exported telemetry be replayed as is.
"""

from __future__ import annotations

from typing import Any

from udfs.normalize.errors import NormalizeError


def unwrap(doc: dict[str, Any]) -> bytes | None:
    """The wrapped record's bytes, or ``None`` if ``doc`` is not a known wrapper."""
    result = doc.get("result")
    if isinstance(result, dict):
        raw = result.get("_raw")
        if isinstance(raw, str) and raw.lstrip().startswith("{"):
            return raw.encode("utf-8")
    return None


def unknown(doc: dict[str, Any]) -> NormalizeError:
    """The error for an object no parser claims, with a hint where one is possible."""
    records = doc.get("Records")
    if isinstance(records, list):
        return NormalizeError(
            "unknown_format",
            f"a CloudTrail file with {len(records)} Records, not one record: split it first "
            "(`ttpflow normalize`/`ttpflow replay` and the job's file mode do)",
            source_format="cloudtrail",
        )
    keys = ", ".join(k[:40] for k in sorted(doc)[:8])
    return NormalizeError("unknown_format", f"no parser recognises an object with keys: {keys or '(none)'}")
