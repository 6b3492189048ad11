"""The detect stage: one normalized event in, zero or more technique hits out.

Sources of hits, in this order: ids the event already carries (EDR alerts), technique maps, and
compiled Sigma rules (``udfs.detect.sigma_engine``, plugged in through ``matchers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from udfs.detect.catalog import Catalog, default_catalog
from udfs.detect.technique_map import TechniqueMap, load_technique_map

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class Matcher(Protocol):
    """Anything that turns an event into partial hits (a Sigma engine, for one)."""

    def match(self, event: dict[str, Any]) -> Iterable[dict[str, Any]]: ...


def entity_host(event: dict[str, Any]) -> str | None:
    host = event.get("host") or {}
    return host.get("name") or host.get("hostname") or (host.get("ip") or [None])[0]


def entity_user(event: dict[str, Any]) -> str | None:
    user = event.get("user") or {}
    return user.get("name")


@dataclass
class Detector:
    technique_maps: list[TechniqueMap] = field(default_factory=list)
    matchers: list[Matcher] = field(default_factory=list)
    catalog: Catalog = field(default_factory=default_catalog)

    def detect(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        carried = (event.get("threat") or {}).get("technique_ids") or []
        if carried:
            hits.append(
                self._hit(event, "event:attck_technique", "ATT&CK ids carried by the event", "event",
                          "medium", carried, ["threat.technique_ids"])
            )
        for tmap in self.technique_maps:
            entry = tmap.lookup(event)
            if entry is not None:
                title = f"{tmap.field} maps to {', '.join(entry.techniques)}"
                hits.append(
                    self._hit(event, f"map:{tmap.map_id}", title, "technique_map", entry.level,
                              entry.techniques, [tmap.field])
                )
        for matcher in self.matchers:
            for partial in matcher.match(event):
                hits.append(
                    self._hit(event, partial["rule_id"], partial["rule_title"], "sigma",
                              partial.get("level", "medium"), partial.get("techniques", []),
                              partial.get("matched_fields", []), status=partial.get("status"))
                )
        return hits

    def _hit(
        self,
        event: dict[str, Any],
        rule_id: str,
        title: str,
        source: str,
        level: str,
        techniques: list[str],
        matched_fields: list[str],
        status: str | None = None,
    ) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "hit_id": f"{event['raw_sha256']}:{rule_id}",
            "timestamp_ms": event["timestamp_ms"],
            "rule_id": rule_id,
            "rule_title": title,
            "rule_source": source,
            "level": level,
            "status": status,
            "techniques": list(techniques),
            "tactics": self.catalog.tactics_for_all(list(techniques)),
            "matched_fields": matched_fields,
            "host": entity_host(event),
            "user": entity_user(event),
            "event": event,
        }


def default_detector(rules_dir: Path = DEFAULT_RULES_DIR) -> Detector:
    maps = [load_technique_map(p) for p in sorted((rules_dir / "technique_maps").glob("*.yaml"))]
    return Detector(technique_maps=maps)


def load_detector(rules_dir: Path | str = DEFAULT_RULES_DIR, sigma_paths: Sequence[str] = ()) -> Detector:
    """The detector the job runs: technique maps from ``rules_dir`` plus Sigma rules from ``sigma_paths``.

    The Flink job calls exactly this; keep the signature.
    """
    detector = default_detector(Path(rules_dir))
    # Sigma matchers are attached here by the Sigma engine (issue 4) when sigma_paths is not empty.
    return detector
