"""Build the compact ATT&CK catalog (rules/attack/catalog.json) from the Enterprise STIX bundle.

    python scripts/build_attack_catalog.py [--bundle ../shared/attack/enterprise-attack.json]
                                           [--out rules/attack/catalog.json]
                                           [--migration ../shared/sigma/attack-v19-tag-migration.json]
                                           [--migration-out rules/attack/v19_tag_migration.json]

The catalog holds, per technique and sub-technique: name, tactics in kill-chain order, platforms,
data components, and for deprecated / revoked objects their successors. Since ATT&CK v18 data
components are reached through detection strategies (``detects`` relationships) and their analytics'
log source references, not through ``detects`` relationships from data components any more.

With ``--migration`` it also derives the v19 -> v18 tag table (see ``docs/detection.md``): SigmaHQ tags
its rules with ATT&CK v19 ids and tactics this catalog (v18.1) does not know yet.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT.parent / "shared" / "attack" / "enterprise-attack.json"
DEFAULT_OUT = ROOT / "rules" / "attack" / "catalog.json"
DEFAULT_MIGRATION = ROOT.parent / "shared" / "sigma" / "attack-v19-tag-migration.json"
DEFAULT_MIGRATION_OUT = ROOT / "rules" / "attack" / "v19_tag_migration.json"

# ATT&CK v19 split defense-evasion in two. Both halves were defense-evasion in v18.
V19_TACTICS = {"stealth": "defense-evasion", "defense-impairment": "defense-evasion"}

_TECHNIQUE_URL = re.compile(r"attack\.mitre\.org/techniques/(T\d{4})(?:/(\d{3}))?")
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None


def _deprecation_successors(description: str) -> list[str]:
    """Deprecated techniques name their replacements as links in the first paragraph only."""
    first = description.split("\n\n", 1)[0]
    found = [f"{t}.{sub}" if sub else t for t, sub in _TECHNIQUE_URL.findall(first)]
    return list(dict.fromkeys(found))


def _data_components(objects: list[dict[str, Any]], by_stix: dict[str, Any]) -> dict[str, set[str]]:
    """technique STIX id -> data component names, via detection strategy -> analytics -> log sources."""
    components = {o["id"]: o["name"] for o in objects if o["type"] == "x-mitre-data-component"}
    result: dict[str, set[str]] = defaultdict(set)
    for rel in objects:
        if rel["type"] != "relationship" or rel.get("relationship_type") != "detects":
            continue
        source = by_stix.get(rel["source_ref"], {})
        if source.get("type") == "x-mitre-data-component":  # ATT&CK <= v17
            result[rel["target_ref"]].add(source["name"])
            continue
        if source.get("type") != "x-mitre-detection-strategy" or source.get("x_mitre_deprecated"):
            continue
        for analytic_ref in source.get("x_mitre_analytic_refs", []):
            analytic = by_stix.get(analytic_ref, {})
            for logsrc in analytic.get("x_mitre_log_source_references", []):
                name = components.get(logsrc.get("x_mitre_data_component_ref", ""))
                if name:
                    result[rel["target_ref"]].add(name)
    return result


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
    detects = _data_components(objects, by_stix)
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
            entry["successors"] = _deprecation_successors(obj.get("description", ""))
        techniques[tid] = entry
    # A revoked technique's successor may itself be revoked: resolve chains once, here.
    for entry in techniques.values():
        seen: set[str] = set()
        target = entry.get("revoked_by")
        while target and techniques.get(target, {}).get("revoked_by") and target not in seen:
            seen.add(target)
            target = techniques[target]["revoked_by"]
        if "revoked_by" in entry:
            entry["revoked_by"] = target
    return {
        "attack_version": collection.get("x_mitre_version") or bundle.get("x_mitre_version", "unknown"),
        "source": "MITRE ATT&CK Enterprise STIX bundle",
        "modified": collection.get("modified"),
        "tactic_order": tactic_order,
        "tactics": tactics,
        "techniques": dict(sorted(techniques.items())),
    }


def build_v19_migration(migration: dict[str, Any], catalog: dict[str, Any]) -> dict[str, Any]:
    """Derive v19 technique id -> v18 id(s) from rules whose tags changed one technique for another.

    Each migrated rule lists its tags before and after. Where exactly one technique tag was removed
    and one added, that is one observation of old -> new. The most frequent old id per new id wins;
    every observed alternative is kept for the record.
    """
    observed: dict[str, Counter[str]] = defaultdict(Counter)
    changes = []
    for rule in migration["rules"]:
        before = {m.group(1).upper() for t in rule["v18_tags"] if (m := _TECHNIQUE_TAG.match(t))}
        after = {m.group(1).upper() for t in rule["v19_tags"] if (m := _TECHNIQUE_TAG.match(t))}
        removed, added = before - after, after - before
        if added and removed:
            changes.append((removed, added))
    for removed, added in changes:
        if len(added) == 1:
            (new,) = added
            for old in removed:
                observed[new][old] += 1
    # Several ids moved at once (e.g. T1562.001 + T1562.003 -> T1685 + T1690): take out the olds the
    # other new ids already explain; a single leftover is one more observation.
    settled = {new: olds.most_common(1)[0][0] for new, olds in observed.items()}
    for removed, added in changes:
        if len(added) < 2:
            continue
        for new in added:
            others = {settled.get(o) for o in added if o != new}
            left = removed - others
            if len(left) == 1 and new not in settled:
                observed[new][next(iter(left))] += 1
    known = catalog["techniques"]
    techniques: dict[str, Any] = {}
    for new, olds in sorted(observed.items()):
        if new in known:
            continue
        best = olds.most_common(1)[0][0]
        techniques[new] = {
            "v18": best,
            "v18_name": known.get(best, {}).get("name"),
            "observations": dict(olds.most_common()),
        }
    return {
        "description": (
            "ATT&CK v19 technique ids and tactics used by SigmaHQ rules, mapped to the v18 ids of "
            "rules/attack/catalog.json. Derived by scripts/build_attack_catalog.py from "
            "attack-v19-tag-migration.json (rule tags before and after SigmaHQ's v19 migration)."
        ),
        "sigma_commit_before": migration.get("sigma_commit_before"),
        "sigma_commit_after": migration.get("sigma_commit_after"),
        "catalog_attack_version": catalog["attack_version"],
        "tactics": dict(V19_TACTICS),
        "techniques": techniques,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--migration", type=Path, default=DEFAULT_MIGRATION)
    parser.add_argument("--migration-out", type=Path, default=DEFAULT_MIGRATION_OUT)
    args = parser.parse_args()
    catalog = build(json.loads(args.bundle.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(catalog, indent=0, sort_keys=False) + "\n")
    with_dc = sum(1 for e in catalog["techniques"].values() if e["data_components"])
    print(
        f"{args.out}: ATT&CK {catalog['attack_version']}, {len(catalog['techniques'])} techniques, "
        f"{with_dc} with data components"
    )
    if args.migration.exists():
        table = build_v19_migration(json.loads(args.migration.read_text()), catalog)
        args.migration_out.write_text(json.dumps(table, indent=1) + "\n")
        print(
            f"{args.migration_out}: {len(table['techniques'])} v19 technique ids, "
            f"{len(table['tactics'])} v19 tactics mapped"
        )
    else:
        print(f"{args.migration}: absent; v19 tag table left as it is")


if __name__ == "__main__":
    main()
