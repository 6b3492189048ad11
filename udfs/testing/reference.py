"""The executable reference: raw records -> scored alerts with the pure-Python engine, no Flink.

Normalize and detect as the job's analyze step does (network behaviour rules too), then link and
correlate through the event-time harness (:mod:`udfs.testing.harness`), then score. The job's SQL
path is tested against this (tests/integration/test_differential.py): same input, identical alerts.
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
from udfs.network.behavior import NetworkBehavior, connection_of
from udfs.network.rules import load_network_rules
from udfs.network.windows import NetworkWindows
from udfs.normalize.normalizer import Normalizer
from udfs.score import Scorer
from udfs.testing.harness import EventTimeHarness


class _ScoredWindows(NetworkWindows):
    """Network windows whose hits carry their risk, as the job's hit rows do (risk rules sum it)."""

    def __init__(self, network: NetworkBehavior, scorer: Scorer) -> None:
        super().__init__(network)
        self.scorer = scorer

    def due(self, watermark: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [({**hit, "risk": self.scorer.hit(hit)}, event) for hit, event in super().due(watermark)]


def reference_alerts(payloads: Iterable[bytes], config: JobConfig) -> list[dict[str, Any]]:
    """Scored alerts for ``payloads`` in arrival order (as one file's lines). Every hit carries its
    ``risk`` (the signal's), as in the job: risk_threshold rules sum it."""
    normalizer = Normalizer(config.default_format, limits=config.limits())
    inventory = load_inventory(config.assets_path)
    scorer = Scorer.from_config(config, inventory)
    detector = load_detector(config.rules_dir, config.sigma_paths)
    network = NetworkBehavior(load_network_rules(config.rules_dir))
    harness = EventTimeHarness(
        Correlation(load_ruleset(config.rules_dir, config.sigma_paths)),
        out_of_orderness_ms=config.out_of_orderness_ms,
        allowed_lateness_ms=config.allowed_lateness_ms,
        linker=Linker(inventory),
        binding_max_age_ms=config.binding_max_age_ms,
        network=_ScoredWindows(network, scorer) if network.windowed else None,
    )

    def items() -> Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]:
        for line, payload in enumerate(payloads, 1):
            event = normalizer.normalize(payload, Origin(file="reference", line=line)).event
            if event is not None:
                conn = connection_of(event) if network else None
                hits = detector.detect(event) + (network.record_hits(event, conn) if conn else [])
                yield event, [{**hit, "risk": scorer.hit(hit)} for hit in hits]

    return [scorer.alert(draft) for draft in harness.run(items()).alerts]
