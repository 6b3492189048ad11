"""The severity factors, one pure function each: a :class:`udfs.score.subject.Subject` in, one
:class:`udfs.score.formula.Factor` out (name, weight, one sentence). Weights and the reasoning behind
them are in docs/scoring.md; a factor with nothing to go on returns weight 1.0 and says so.

Adaptive baselines and analyst feedback are not here: they need state (the JVM's) and plug in as
extra factors through :class:`udfs.score.scorer.ExtraFactor`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from udfs.detect.catalog import Catalog
from udfs.link.inventory import ChangeWindowContext
from udfs.score import assurance
from udfs.score.formula import Factor, factor
from udfs.score.roles import RoleTable
from udfs.score.subject import Observation, Subject

CRITICALITY_STEP = 0.04  # per point away from the neutral 5: 0 -> 0.8, 10 -> 1.2
EXPOSED = 1.15
SENSITIVITY = {"crown_jewel": 1.25, "pci": 1.15, "phi": 1.15, "pii": 1.1}
DATA_TACTICS = ("collection", "exfiltration", "impact")
TIERS = {
    "tier0": (1.3, "controls identity itself (domain, cloud or identity-provider admin): its misuse is the whole "
                   "estate's"),
    "tier1": (1.15, "administers servers and applications"),
    "tier2": (1.0, "a standard user account"),
}
PROGRESSION_PER_TACTIC = 0.03
PROGRESSION_PER_STAGE = 0.01
PROGRESSION_CAP = 1.3
CHANGE_WINDOW = 0.7  # inside an approved change window: expected work, not no work (docs/scoring.md)


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def asset_criticality(s: Subject) -> Factor:
    best: tuple[int, str | None] | None = None
    for obs in s.observations:
        crit = obs.criticality
        if crit is None and obs.host in s.assets:
            crit = s.assets[obs.host].criticality  # type: ignore[index]
        if crit is not None and (best is None or crit > best[0]):
            best = (crit, obs.host)
    if best is None:
        return factor("asset_criticality", 1.0, "no criticality known for the host: neutral")
    crit, host = best
    return factor("asset_criticality", 1 + CRITICALITY_STEP * (crit - 5),
                  f"{host or 'the host'} has criticality {crit}/10 (5 is neutral; each point moves the score 4%)")


def role_technique(s: Subject, roles: RoleTable) -> Factor:
    """The heaviest (role, technique) pair of the subject: a routine technique lowers the score only
    when every technique is routine where it ran, and one alarming pair raises it."""
    best: tuple[float, str] | None = None
    no_role: list[str] = []
    unlisted: list[str] = []
    for obs in s.observations:
        asset = s.assets.get(obs.host) if obs.host else None
        role = asset.role if asset is not None else None
        if role is None:
            no_role.append(obs.host or obs.ref)
            continue
        pairs = [(t, roles.weigh(role, t)) for t in obs.techniques] or \
                [(t, roles.weigh_tactic(role, t)) for t in obs.tactics]
        for what, found in pairs:
            if found is None:
                unlisted.append(f"{what} on {role}")
            elif best is None or found.weight > best[0]:
                best = (found.weight, f"{what} on {role} {obs.host}: {found.reason}")
    neutral = list(dict.fromkeys(unlisted)) + [f"{h} (no role known)" for h in dict.fromkeys(no_role)]
    if best is not None and (best[0] > 1.0 or not neutral):
        return factor("role_technique", best[0], best[1])
    if best is not None:  # routine here, but not everything in the subject is
        return factor("role_technique", 1.0, f"{best[1].split(':', 1)[0]} is routine, but not {_names(neutral)}: "
                                             "neutral")
    if unlisted:
        return factor("role_technique", 1.0, f"no role x technique entry for {_names(neutral)}: neutral")
    if no_role:
        return factor("role_technique", 1.0, f"no role known for {_names(list(dict.fromkeys(no_role)))}: neutral")
    return factor("role_technique", 1.0, "no technique to weigh against a role: neutral")


def exposure(s: Subject) -> Factor:
    known = [s.assets[h] for h in s.hosts() if h in s.assets and s.assets[h].internet_facing is not None]
    facing = [a.name for a in known if a.internet_facing]
    if facing:
        return factor("exposure", EXPOSED, f"{_names(facing)} is internet-facing: anyone can reach it, so activity "
                                           "there is likelier an intrusion than an insider's test")
    if known:
        return factor("exposure", 1.0, f"{_names([a.name for a in known])} is not internet-facing: neutral")
    return factor("exposure", 1.0, "exposure not known for the host: neutral")


def data_sensitivity(s: Subject) -> Factor:
    held = [(c, h) for h in s.hosts() if h in s.assets for c in s.assets[h].data_sensitivity]
    if not held:
        return factor("data_sensitivity", 1.0, "no sensitive data recorded for the host: neutral")
    cls, host = max(held, key=lambda ch: SENSITIVITY[ch[0]])
    touched = [t for t in s.tactics if t in DATA_TACTICS]
    if not touched:
        return factor("data_sensitivity", 1.0, f"{host} holds {cls} data, but no collection, exfiltration or impact "
                                               "step touches it: neutral")
    return factor("data_sensitivity", SENSITIVITY[cls],
                  f"{host} holds {cls} data and the evidence shows {', '.join(touched)}: the data itself is at stake")


def privilege_tier(s: Subject) -> Factor:
    users = list(dict.fromkeys(obs.user for obs in s.observations if obs.user))
    tiered = [(s.identities[u].tier, u) for u in users if u in s.identities and s.identities[u].tier]
    if not tiered:
        what = f"no privilege tier known for {_names(users)}" if users else "no user in the evidence"
        return factor("privilege_tier", 1.0, f"{what}: neutral")
    tier, user = min(tiered)  # tier0 < tier1 < tier2
    weight, meaning = TIERS[tier]  # type: ignore[index]
    return factor("privilege_tier", weight, f"{user} is {tier}: {meaning}")


def progression(s: Subject, catalog: Catalog) -> Factor:
    """Tactics climbing the kill chain across hits; one hit is no progression, even of a technique with
    several tactics (T1055 is privilege escalation and defense evasion at once)."""
    tactics = list(s.tactics)
    if len(s.observations) < 2:
        return factor("progression", 1.0, "a single hit: no kill-chain progression")
    if len(tactics) < 2:
        what = f"one tactic ({tactics[0]})" if tactics else "no tactic"
        return factor("progression", 1.0, f"{what}: no kill-chain progression")
    span = max(catalog.tactic_rank(tactics[-1]) - catalog.tactic_rank(tactics[0]), 0)
    weight = min(PROGRESSION_CAP, 1 + PROGRESSION_PER_TACTIC * (len(tactics) - 1) + PROGRESSION_PER_STAGE * span)
    return factor("progression", weight,
                  f"{len(tactics)} tactics observed, {' -> '.join(tactics)}, spanning {span} kill-chain stages")


def identity_assurance(s: Subject) -> Factor:
    found: dict[str, tuple[float, str]] = {}
    signins = 0
    for obs in s.observations:
        identity = s.identities.get(obs.user) if obs.user else None
        if obs.authentication:
            signins += 1
        asset = s.assets.get(obs.host) if obs.host else None
        for kind, weight, sentence in assurance.findings(obs.authentication, obs.host, identity, asset):
            # The first entry that shows a kind names it, unless a later one shows it graver
            # (an IAM write without MFA outweighs a plain sign-in without it).
            if kind not in found or weight > found[kind][0]:
                found[kind] = (weight, f"{sentence} ({obs.ref})")
    for user in dict.fromkeys(obs.user for obs in s.observations if obs.user):
        identity = s.identities.get(user)
        if identity is not None and identity.mfa_enrolled is False:
            found.setdefault("not_enrolled", (assurance.NOT_ENROLLED, f"{user} is not enrolled in MFA"))
    if not found:
        what = "the sign-ins in the evidence show no weakness (MFA, protocol, risk)" if signins else \
            "no sign-in facts in the evidence"
        return factor("identity_assurance", 1.0, f"{what}: neutral")
    weight = 1.0
    for w, _ in found.values():
        weight *= w
    return factor("identity_assurance", min(assurance.CAP, weight), "; ".join(r for _, r in found.values()))


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _covering(s: Subject, obs: Observation) -> ChangeWindowContext | None:
    if obs.ts is None:
        return None
    for entity in (f"host:{obs.host}" if obs.host else None, f"user:{obs.user}" if obs.user else None):
        for window in s.change_windows.get(entity or "", ()):
            if window.start_ms <= obs.ts <= window.end_ms:
                return window
    return None


def change_window(s: Subject) -> Factor:
    """An approved change window (a ticket) on the host or user lowers the score, but only when every
    hit or evidence entry falls inside one: part of an alert outside the change is not explained by it."""
    if not s.change_windows:
        return factor("change_window", 1.0, "no change window recorded for the host or user: neutral")
    covered = [(obs, _covering(s, obs)) for obs in s.observations]
    inside = [(obs, w) for obs, w in covered if w is not None]
    outside = [obs.host or obs.user or obs.ref for obs, w in covered if w is None]
    if inside and not outside:
        w = inside[0][1]
        why = f" ({w.reason})" if w.reason else ""
        return factor("change_window", CHANGE_WINDOW,
                      f"inside approved change {w.ticket}{why} on {w.host or w.user}, {_when(w.start_ms)} to "
                      f"{_when(w.end_ms)}: expected work")
    if inside:
        return factor("change_window", 1.0, f"change {inside[0][1].ticket} covers part of the evidence, but not "
                                            f"{_names(list(dict.fromkeys(outside)))}: neutral")
    tickets = sorted({w.ticket for ws in s.change_windows.values() for w in ws})
    return factor("change_window", 1.0, f"outside the change windows ({_names(tickets)}) of the host or user: "
                                        "neutral")
