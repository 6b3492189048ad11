"""The detect stage: one normalized event in, zero or more technique hits out.

Sources of hits, in this order: ids the event already carries (EDR alerts), technique maps (on the
event kinds each entry applies to), and compiled Sigma rules (``udfs.detect.sigma.engine``, plugged in
through ``matchers``). Stateless: deduplication (:mod:`udfs.detect.dedupe`) is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from udfs.detect.catalog import Catalog, default_catalog
from udfs.detect.dedupe import sigma_dedupe_windows
from udfs.detect.technique_map import TechniqueMap, load_technique_map

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class Matcher(Protocol):
    """Anything that turns an event into partial hits (a Sigma engine, for one).

    A partial hit has ``rule_id``, ``rule_title``, ``level``, ``status``, ``techniques``,
    ``matched_fields`` and optionally ``tactics`` (declared by the rule), ``rule_techniques`` (ids
    as the rule wrote them) and ``tags``.
    """

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
                self._hit(
                    event,
                    "event:attck_technique",
                    "ATT&CK ids carried by the event",
                    "event",
                    "medium",
                    carried,
                    ["threat.technique_ids"],
                )
            )
        for tmap in self.technique_maps:
            entry = tmap.lookup(event)  # only on the event kinds the entry applies to
            if entry is not None:
                hits.append(
                    self._hit(
                        event, tmap.rule_id, tmap.title, "technique_map", entry.level, entry.techniques, [tmap.field]
                    )
                )
        for matcher in self.matchers:
            for partial in matcher.match(event):
                hit = self._hit(
                    event,
                    partial["rule_id"],
                    partial["rule_title"],
                    "sigma",
                    partial.get("level", "medium"),
                    partial.get("techniques", []),
                    partial.get("matched_fields", []),
                    status=partial.get("status"),
                    declared_tactics=partial.get("tactics", ()),
                )
                if partial.get("rule_techniques") is not None:
                    hit["rule_techniques"] = list(partial["rule_techniques"])
                if partial.get("tags") is not None:
                    hit["tags"] = list(partial["tags"])
                hits.append(hit)
        return hits

    def filtered(self, event: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        """The hits Sigma filters took from the last :meth:`detect` of ``event``: (hit, the filter's
        ``FilterIR``). They leave through the suppressed output, never silently (udfs.suppress)."""
        out = []
        for matcher in self.matchers:
            taken = getattr(matcher, "filtered", None)
            if taken:
                for partial, sfilter in matcher.filtered_matches(event):  # type: ignore[attr-defined]
                    out.append((self._hit(event, partial["rule_id"], partial["rule_title"], "sigma",
                                          partial.get("level", "medium"), partial.get("techniques", []),
                                          partial.get("matched_fields", []), status=partial.get("status"),
                                          declared_tactics=partial.get("tactics", ())), sfilter))
        return out

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
        declared_tactics: Iterable[str] = (),
    ) -> dict[str, Any]:
        tactics = self.catalog.tactics_for_all(list(techniques))
        extra = [t for t in declared_tactics if t not in tactics]
        if extra:
            # A rule's own tactic tags count too (a tag-only rule has no technique to take them from).
            tactics = self.catalog.order_tactics([*tactics, *extra])
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
            "tactics": tactics,
            "matched_fields": matched_fields,
            "host": entity_host(event),
            "user": entity_user(event),
            "event": event,
        }


def load_technique_maps(rules_dir: Path | str | None) -> list[TechniqueMap]:
    if rules_dir is None:
        return []
    return [load_technique_map(p) for p in sorted((Path(rules_dir) / "technique_maps").glob("*.yaml"))]


def sigma_rule_paths(
    rules_dir: Path | str | None, sigma_paths: Sequence[Path | str] = (), *, own_sigma: bool = True
) -> list[Path]:
    """The Sigma rule paths a detector loads: the pack's own (``<rules_dir>/sigma`` and the base rules
    inside ``<rules_dir>/correlations``) unless ``own_sigma`` is off or there is no pack, then ``sigma_paths``."""
    paths: list[Path] = []
    pack = Path(rules_dir) if rules_dir is not None and own_sigma else None
    if pack is not None and (pack / "sigma").is_dir():
        paths.append(pack / "sigma")
    # Correlation rule files may carry the base rules they correlate (the Sigma specification's layout).
    if pack is not None and (pack / "correlations").is_dir():
        paths += [p for p in sorted((pack / "correlations").glob("*.yml")) if "detection:" in p.read_text()]
    paths.extend(Path(p) for p in sigma_paths)
    return paths


def dedupe_windows(rules_dir: Path | str | None, sigma_paths: Sequence[Path | str] = (), *,
                   own_sigma: bool = True) -> dict[str, int]:
    """Rule id -> window (ms) of each rule that :func:`load_detector` loads with the same arguments
    and that asks for deduplication (:mod:`udfs.detect.dedupe`)."""
    from udfs.detect.sigma.loader import find_rule_files

    windows = {m.rule_id: m.dedupe_ms for m in load_technique_maps(rules_dir) if m.dedupe_ms}
    files = find_rule_files(sigma_rule_paths(rules_dir, sigma_paths, own_sigma=own_sigma))
    windows.update(sigma_dedupe_windows(files))
    return windows


def load_detector(
    rules_dir: Path | str | None = DEFAULT_RULES_DIR,
    sigma_paths: Sequence[Path | str] = (),
    *,
    own_sigma: bool = True,
    placeholders: dict[str, list[str]] | None = None,
    cache_dir: Path | bool | None = True,
) -> Detector:
    """Technique maps and Sigma rules: the pack in ``rules_dir`` (its maps, its own Sigma rules
    ``rules/sigma``) plus ``sigma_paths``. ``rules_dir=None``: no pack at all, only ``sigma_paths``.

    Rules that cannot load are reported by ``ttpflow rules check``; here they are left out so that a
    job never stops for one bad community rule (the load report is on ``detector.sigma.report``).
    """
    from udfs.detect.sigma.engine import SigmaEngine
    from udfs.detect.sigma.loader import load_rules

    paths = sigma_rule_paths(rules_dir, sigma_paths, own_sigma=own_sigma)
    catalog = default_catalog()
    detector = Detector(technique_maps=load_technique_maps(rules_dir), catalog=catalog)
    if paths:
        engine = SigmaEngine(load_rules(paths, cache_dir=cache_dir), catalog, placeholders=placeholders)
        detector.matchers.append(engine)
    return detector


def default_detector(rules_dir: Path = DEFAULT_RULES_DIR) -> Detector:
    """Technique maps and the project's own Sigma pack: what the job runs without ``--sigma``."""
    return load_detector(rules_dir)
