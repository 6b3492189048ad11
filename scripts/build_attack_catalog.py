"""Build the compact ATT&CK catalog (rules/attack/catalog.json) from the Enterprise STIX bundle.

    python scripts/build_attack_catalog.py [--bundle ../shared/attack/enterprise-attack.json]
                                           [--out rules/attack/catalog.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT.parent / "shared" / "attack" / "enterprise-attack.json"
DEFAULT_OUT = ROOT / "rules" / "attack" / "catalog.json"


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None


def build(bundle: dict[str, Any]) -> dict[str, Any]:
    objects = bundle["objects"]
    by_stix = {o["id"]: o for o in objects}
    matrix = next(o for o in objects if o["type"] == "x-mitre-matrix")
    tactic_order = [by_stix[ref]["x_mitre_shortname"] for ref in matrix["tactic_refs"]]
    tactics = {
        by_stix[ref]["x_mitre_shortname"]: {"id": _attack_id(by_stix[ref]), "name": by_stix[ref]["name"]}
        for ref in matrix["tactic_refs"]
    }
    collection = next((o for o in objects if o["type"] == "x-mitre-collection"), {})
    revoked_by: dict[str, str] = {}
    for rel in objects:
        if rel["type"] == "relationship" and rel.get("relationship_type") == "revoked-by":
            revoked_by[rel["source_ref"]] = rel["target_ref"]
    detects: dict[str, set[str]] = {}
    components = {o["id"]: o["name"] for o in objects if o["type"] == "x-mitre-data-component"}
    for rel in objects:
        if rel["type"] == "relationship" and rel.get("relationship_type") == "detects":
            if rel["source_ref"] in components:
                detects.setdefault(rel["target_ref"], set()).add(components[rel["source_ref"]])
    techniques: dict[str, Any] = {}
    for obj in objects:
        if obj["type"] != "attack-pattern":
            continue
        tid = _attack_id(obj)
        if not tid:
            continue
        phases = [
            p["phase_name"] for p in obj.get("kill_chain_phases", []) if p.get("kill_chain_name") == "mitre-attack"
        ]
        entry: dict[str, Any] = {
            "name": obj["name"],
            "tactics": sorted(set(phases), key=lambda t: tactic_order.index(t) if t in tactic_order else 99),
            "platforms": obj.get("x_mitre_platforms", []),
            "data_components": sorted(detects.get(obj["id"], ())),
        }
        if obj.get("revoked"):
            successor = by_stix.get(revoked_by.get(obj["id"], ""))
            entry["revoked_by"] = _attack_id(successor) if successor else None
        if obj.get("x_mitre_deprecated"):
            entry["deprecated"] = True
        techniques[tid] = entry
    return {
        "attack_version": collection.get("x_mitre_version") or bundle.get("x_mitre_version", "unknown"),
        "source": "MITRE ATT&CK Enterprise STIX bundle",
        "tactic_order": tactic_order,
        "tactics": tactics,
        "techniques": dict(sorted(techniques.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    catalog = build(json.loads(args.bundle.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(catalog, indent=0, sort_keys=False) + "\n")
    print(f"{args.out}: ATT&CK {catalog['attack_version']}, {len(catalog['techniques'])} techniques")


if __name__ == "__main__":
    main()
