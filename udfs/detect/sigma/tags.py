"""A Sigma rule's ``attack.*`` tags as technique ids and tactics the catalog knows.

``attack.t1055.012`` is a technique; ``attack.g0016`` / ``attack.s0002`` / ``attack.ds0005`` a group /
software / data source (kept in the tags, neither technique nor tactic); anything else under
``attack.`` a tactic. Ids and tactics the catalog does
not know are mapped (revoked -> successor, ATT&CK v19 -> v18 table) or kept with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from udfs.detect.catalog import Catalog

_TECH = re.compile(r"^t\d{4}(\.\d{3})?$")
# Groups, software, campaigns, data sources, mitigations: kept in the hit's tags, not tactics.
_GROUP_OR_SOFTWARE = re.compile(r"^(g|s|c|ds|m)\d{4}$")


@dataclass(frozen=True)
class RuleAttack:
    techniques: tuple[str, ...]  # catalog ids, sub-techniques kept, in tag order
    tactics: tuple[str, ...]  # the rule's declared tactics, as catalog tactic names
    tagged_techniques: tuple[str, ...]  # as the rule wrote them (e.g. v19 T1685)
    notes: tuple[str, ...]  # mappings applied (info)
    warnings: tuple[str, ...]  # ids / tactics kept without a catalog entry


def resolve_tags(tags: tuple[str, ...] | list[str], catalog: Catalog) -> RuleAttack:
    techniques: dict[str, None] = {}
    tactics: dict[str, None] = {}
    tagged: dict[str, None] = {}
    notes: list[str] = []
    warnings: list[str] = []
    for tag in tags:
        namespace, _, name = tag.partition(".")
        if namespace.lower() != "attack" or not name:
            continue
        name = name.lower()
        if _GROUP_OR_SOFTWARE.match(name):
            continue
        res = catalog.resolve_technique(name) if _TECH.match(name) else catalog.resolve_tactic(name)
        if _TECH.match(name):
            tagged.setdefault(res.given, None)
            techniques.setdefault(res.resolved, None)
        else:
            tactics.setdefault(res.resolved, None)
        if res.note:
            (notes if res.known else warnings).append(res.note)
    return RuleAttack(
        techniques=tuple(techniques),
        tactics=tuple(catalog.order_tactics(list(tactics))),
        tagged_techniques=tuple(tagged),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
