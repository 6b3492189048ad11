"""Identity assurance: how sure are we that the account was used by its owner?

The events say it where they can (``schemas.event.Authentication``): a successful sign-in without MFA
(Entra ``singleFactorAuthentication``, CloudTrail ``MFAUsed: No``), a legacy protocol that cannot carry
MFA or is easily relayed or cracked (NTLMv1 / LM, Entra's resource-owner password grant, RC4 or DES
Kerberos tickets, cleartext network logons), and the identity provider's own risk rating. The
directory adds what the events cannot: an account not enrolled in MFA, a service account signing in
interactively, a sign-in from outside the person's usual countries or hosts, and a privileged
(tier0 / tier1) account signing in interactively on a host of a lower tier, which leaves its
credentials where a lower-tier compromise can take them. The identity provider's own detections ride
along: Okta's behaviors (new device, new country, velocity) and ThreatInsight verdict, Entra's risk
detections (anomalous token, impossible travel, new country) and device state, CloudTrail's root user
and IAM writes made with session credentials issued without MFA.

:func:`auth_facts` picks the few facts an evidence entry keeps (it rides on every hit of an
authentication event, so it stays small); :func:`findings` turns them into weighted sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.link.inventory import AssetContext, IdentityContext

_KEPT = ("outcome", "mfa", "method", "protocol", "logon_type", "risk_level", "ticket_encryption")
# Identity-provider flags kept only when true: an evidence entry stays small, and false says nothing here.
_FLAGS = ("new_device", "new_country", "impossible_travel", "threat_suspected", "token_anomaly",
          "unmanaged_device", "root", "sensitive_call")
INTERACTIVE_LOGONS = frozenset({
    "interactive", "remoteinteractive", "cachedinteractive", "cachedremoteinteractive", "unlock", "cachedunlock",
})
# Lower-cased protocol / method / logon type -> how the reason names it.
LEGACY = {
    "ntlm v1": "NTLMv1", "lm": "LAN Manager", "ropc": "resource-owner password grant",
    "networkcleartext": "cleartext network logon", "basic": "basic authentication",
}
WEAK_TICKETS = ("rc4", "des")

NO_MFA = 1.15
LEGACY_AUTH = 1.2
RISK = {"high": 1.2, "medium": 1.1}
NOT_ENROLLED = 1.1
SERVICE_INTERACTIVE = 1.15
UNUSUAL_COUNTRY = 1.15
UNUSUAL_HOST = 1.1
NEW_DEVICE = 1.1
TOKEN_ANOMALY = 1.3
IMPOSSIBLE_TRAVEL = 1.2
UNMANAGED_DEVICE = 1.05
THREAT_SUSPECTED = 1.15
ROOT_USE = 1.2
SENSITIVE_NO_MFA = 1.2
OUTSIDE_TIER = 1.2
CAP = 1.4
_TIER_RANK = {"tier0": 0, "tier1": 1, "tier2": 2}
# The tier a role implies when the inventory gives the host no ``tier`` (roles in rules/scoring/role_techniques.yaml).
ROLE_TIER = {
    "domain_controller": "tier0", "certificate_authority": "tier0", "identity_server": "tier0",
    "server": "tier1", "database_server": "tier1", "file_server": "tier1", "web_server": "tier1",
    "build_server": "tier1", "jump_host": "tier1",
    "workstation": "tier2", "developer_workstation": "tier2", "kiosk": "tier2", "laptop": "tier2",
}


def auth_facts(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The authentication facts of an event that scoring reads, or None: most events have none."""
    auth = event.get("authentication")
    if not auth:
        return None
    facts = {k: auth[k] for k in _KEPT if auth.get(k) is not None}
    facts.update((k, True) for k in _FLAGS if auth.get(k) is True)
    if auth.get("velocity") is True:  # Okta's name for it
        facts["impossible_travel"] = True
    geo = (event.get("source") or {}).get("geo") or {}
    if geo.get("country_iso_code"):
        facts["country"] = str(geo["country_iso_code"]).upper()
    return facts or None


def legacy_of(auth: Mapping[str, Any]) -> str | None:
    for key in ("protocol", "method", "logon_type"):
        value = auth.get(key)
        if isinstance(value, str) and value.strip().lower() in LEGACY:
            return LEGACY[value.strip().lower()]
    ticket = auth.get("ticket_encryption")
    if isinstance(ticket, str) and ticket.lower().startswith(WEAK_TICKETS):
        return f"{ticket} Kerberos ticket"
    return None


def host_tier(asset: AssetContext | None) -> str | None:
    """The inventory's ``tier`` for the host, else the one its role implies, else None (not known)."""
    if asset is None:
        return None
    return asset.tier or ROLE_TIER.get(asset.role or "")


def _provider(auth: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """What the identity provider (or CloudTrail) flagged on the event itself."""
    out: list[tuple[str, float, str]] = []
    if auth.get("token_anomaly"):
        out.append(("token_anomaly", TOKEN_ANOMALY,
                    "the identity provider flagged the token as anomalous (replayed or forged)"))
    if auth.get("impossible_travel") or auth.get("velocity"):
        out.append(("impossible_travel", IMPOSSIBLE_TRAVEL,
                    "impossible travel: the identity provider saw this user too far away too recently"))
    if auth.get("new_device"):
        out.append(("new_device", NEW_DEVICE, "the identity provider had not seen this device for the user"))
    if auth.get("threat_suspected"):
        out.append(("threat_suspected", THREAT_SUSPECTED,
                    "the identity provider suspected a threat from the source (Okta ThreatInsight)"))
    if auth.get("unmanaged_device"):
        out.append(("unmanaged_device", UNMANAGED_DEVICE, "signed in from an unmanaged device"))
    if auth.get("root"):
        out.append(("root_use", ROOT_USE, "the AWS account root user was used"))
    return out


def findings(auth: Mapping[str, Any] | None, host: str | None, identity: IdentityContext | None,
             asset: AssetContext | None = None) -> list[tuple[str, float, str]]:
    """(kind, weight, sentence) for one observation. A failed sign-in grants nothing: no finding."""
    if not auth or auth.get("outcome") == "failure":
        return []
    out: list[tuple[str, float, str]] = []
    if auth.get("mfa") is False and auth.get("sensitive_call"):
        # Same weakness as no_mfa, graver where it lands: factors keeps one of the two per alert.
        out.append(("no_mfa", SENSITIVE_NO_MFA, "changed IAM with session credentials issued without MFA"))
    elif auth.get("mfa") is False:
        out.append(("no_mfa", NO_MFA, "signed in without MFA"))
    legacy = legacy_of(auth)
    if legacy:
        out.append(("legacy", LEGACY_AUTH, f"legacy authentication ({legacy})"))
    risk = str(auth.get("risk_level") or "").lower()
    if risk in RISK:
        out.append(("idp_risk", RISK[risk], f"the identity provider rated the sign-in risk {risk}"))
    out.extend(_provider(auth))
    if identity is not None:
        out.extend(_directory(auth, host, identity, asset))
    if auth.get("new_country"):  # the provider's own history; after the directory's, which names the countries
        out.append(("unusual_country", UNUSUAL_COUNTRY, "the identity provider had not seen this user sign in "
                    f"from {auth.get('country') or 'this country'} before"))
    return out


def _directory(auth: Mapping[str, Any], host: str | None, identity: IdentityContext, asset: AssetContext | None
               ) -> list[tuple[str, float, str]]:
    """What the directory and inventory add to one successful sign-in."""
    out: list[tuple[str, float, str]] = []
    interactive = str(auth.get("logon_type") or "").lower() in INTERACTIVE_LOGONS
    tier = host_tier(asset)
    if (interactive and host and tier and identity.tier in _TIER_RANK
            and _TIER_RANK[identity.tier] < _TIER_RANK[tier]):
        out.append(("outside_tier", OUTSIDE_TIER, f"{identity.tier} account {identity.user} signed in "
                    f"interactively on {tier} host {host}: its credentials are exposed to a {tier} compromise"))
    if identity.service_account and interactive:
        out.append(("service_interactive", SERVICE_INTERACTIVE,
                    f"service account {identity.user} signed in interactively"))
    country = auth.get("country")
    if country and identity.usual_countries and country not in identity.usual_countries:
        out.append(("unusual_country", UNUSUAL_COUNTRY, f"{identity.user} signed in from {country}, "
                    f"outside their usual countries ({', '.join(sorted(identity.usual_countries))})"))
    if host and interactive and identity.usual_hosts and host not in identity.usual_hosts:
        out.append(("unusual_host", UNUSUAL_HOST, f"{identity.user} signed in on {host}, not one of their usual hosts"))
    return out
