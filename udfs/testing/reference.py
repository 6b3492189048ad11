"""The executable reference: raw records -> scored alerts with the pure-Python engine, no Flink.

Normalize and detect as the job's analyze step does, then link and correlate through the event-time
harness (:mod:`udfs.testing.harness`), then score. The job's SQL path is tested against this
(tests/integration/test_differential.py): same input, identical alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.config import JobConfig
from schemas.event import Origin
from udfs.correlate.engine import Correlation
from udfs.correlate.rules import load_ruleset
from udfs.detect.detector import load_detector
from udfs.link.inventory import load_inventory
from udfs.link.resolve import Linker
from udfs.normalize.normalizer import Normalizer
from udfs.score import score_alert
from udfs.testing.harness import EventTimeHarness


def reference_alerts(payloads: Iterable[bytes], config: JobConfig) -> list[dict[str, Any]]:
    """Scored alerts for ``payloads`` in arrival order (as one file's lines)."""
    normalizer = Normalizer(config.default_format, limits=config.limits())
    detector = load_detector(config.rules_dir, config.sigma_paths)
    harness = EventTimeHarness(
        Correlation(load_ruleset(config.rules_dir, config.sigma_paths)),
        out_of_orderness_ms=config.out_of_orderness_ms,
        allowed_lateness_ms=config.allowed_lateness_ms,
        linker=Linker(load_inventory(config.assets_path)),
        binding_max_age_ms=config.binding_max_age_ms,
    )

    def items() -> Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]:
        for line, payload in enumerate(payloads, 1):
            event = normalizer.normalize(payload, Origin(file="reference", line=line)).event
            if event is not None:
                yield event, detector.detect(event)

    return [score_alert(draft) for draft in harness.run(items()).alerts]
