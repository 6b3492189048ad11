"""``ttpflow coverage --rules PATH... [--observed HITS]``: an ATT&CK Navigator layer of rule coverage.

Every technique a loaded rule is tagged with (ids resolved to the catalog's ATT&CK version, sub-
techniques kept) gets a score: the number of rules covering it. With ``--observed`` (hits as JSON
lines: ``ttpflow detect`` output or a dump of the signals topic), techniques seen in hits are
coloured apart and carry their hit counts. Layer format 4.5 (ATT&CK Navigator 5.x).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

from jobs.commands.detect import add_rule_options, load_placeholders
from jobs.errors import UserError
from udfs.detect.catalog import Catalog, default_catalog
from udfs.detect.detector import DEFAULT_RULES_DIR
from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.loader import RulePathError, load_rules

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
COVERED_ONLY = "#8ec0e4"  # blue: a rule covers it, no hit seen
OBSERVED = "#e4755b"  # red: seen in hits
OBSERVED_UNCOVERED = "#f3c64f"  # amber: seen in hits from a source outside these rules (maps, EDR ids)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "coverage",
        help="write an ATT&CK Navigator layer of the techniques rules cover (and hits saw)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rule_options(parser)
    parser.add_argument(
        "--observed", metavar="HITS", action="append", default=[], help="hits as JSON lines (repeatable)"
    )
    parser.add_argument(
        "--no-default-rules", action="store_true", help="leave out the project's own Sigma pack (rules/sigma)"
    )
    parser.add_argument("--name", default="ttpflow coverage", help="layer name")
    parser.add_argument("--out", metavar="FILE", help="write the layer here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = list(args.rules or [])
    if not args.no_default_rules:
        paths.insert(0, str(DEFAULT_RULES_DIR / "sigma"))
    if not paths:
        raise UserError("no rules: give --rules PATH (or drop --no-default-rules)")
    try:
        engine = SigmaEngine(
            load_rules(paths, cache_dir=not args.no_cache), placeholders=load_placeholders(args.placeholders)
        )
    except RulePathError as exc:
        raise UserError(str(exc)) from None
    observed = read_observed(args.observed)
    layer = build_layer(engine, observed, default_catalog(), args.name)
    text = json.dumps(layer, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    covered = sum(1 for t in layer["techniques"] if t["score"] > 0)
    print(
        f"coverage: {covered} techniques covered by {engine.report.loaded} rules; "
        f"{len(observed)} techniques observed in hits",
        file=sys.stderr,
    )
    return 0


def read_observed(paths: list[str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for name in paths:
        try:
            with Path(name).open("rb") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        hit = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        raise UserError(f"{name}:{number}: not JSON: {exc}") from None
                    if not isinstance(hit, dict):
                        raise UserError(f"{name}:{number}: expected a hit object")
                    for tid in hit.get("techniques") or []:
                        seen[str(tid).upper()] += 1
        except OSError as exc:
            raise UserError(f"{name}: {exc.strerror}") from None
    return seen


def build_layer(engine: SigmaEngine, observed: Counter[str], catalog: Catalog, name: str) -> dict[str, Any]:
    rules_by_technique: dict[str, list[str]] = defaultdict(list)
    for rule in engine.rules:
        for tid in rule.attack.techniques:
            rules_by_technique[tid].append(rule.ir.title)
    entries = []
    for tid in sorted(set(rules_by_technique) | set(observed)):
        rules = rules_by_technique.get(tid, [])
        hits = observed.get(tid, 0)
        color = OBSERVED if hits and rules else OBSERVED_UNCOVERED if hits else COVERED_ONLY
        comment = f"{len(rules)} rule(s)" + (f"; {hits} hit(s) observed" if hits else "")
        entry: dict[str, Any] = {
            "techniqueID": tid,
            "score": len(rules),
            "color": color,
            "comment": comment,
            "enabled": True,
            "showSubtechniques": any(other.startswith(tid + ".") for other in rules_by_technique),
            "metadata": [{"name": "rule", "value": title} for title in sorted(rules)[:25]],
        }
        if hits:
            entry["metadata"].append({"name": "observed hits", "value": str(hits)})
        if not catalog.known(tid):
            entry["metadata"].append({"name": "note", "value": f"not in ATT&CK {catalog.attack_version}"})
        entries.append(entry)
    top = max((e["score"] for e in entries), default=1) or 1
    return {
        "name": name,
        "versions": {
            "attack": catalog.attack_version.split(".")[0],
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": (
            f"Techniques covered by {engine.report.loaded} Sigma rules (score = number of rules)"
            + (f" and {sum(observed.values())} observed technique hits" if observed else "")
            + f". ATT&CK {catalog.attack_version}; generated by ttpflow coverage."
        ),
        "filters": {
            "platforms": [
                "Windows",
                "Linux",
                "macOS",
                "Network Devices",
                "IaaS",
                "SaaS",
                "Office Suite",
                "Identity Provider",
                "Containers",
                "ESXi",
                "PRE",
            ]
        },
        "sorting": 3,
        "layout": {
            "layout": "side",
            "aggregateFunction": "max",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": ["#ffffff", "#66b1ff"], "minValue": 0, "maxValue": top},
        "legendItems": [
            {"label": "covered by rules", "color": COVERED_ONLY},
            {"label": "covered and seen in hits", "color": OBSERVED},
            {"label": "seen in hits, no rule here", "color": OBSERVED_UNCOVERED},
        ],
        "metadata": [
            {"name": "generator", "value": "ttpflow coverage"},
            {"name": "rules loaded", "value": str(engine.report.loaded)},
        ],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }
