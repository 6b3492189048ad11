"""Identity assurance: how sure are we that the account was used by its owner?

The events say it where they can (``schemas.event.Authentication``): a successful sign-in without MFA
(Entra ``singleFactorAuthentication``, CloudTrail ``MFAUsed: No``), a legacy protocol that cannot carry
MFA or is easily relayed or cracked (NTLMv1 / LM, Entra's resource-owner password grant, RC4 or DES
Kerberos tickets, cleartext network logons), and the identity provider's own risk rating. The
directory adds what the events cannot: an account not enrolled in MFA, a service account signing in
interactively, a sign-in from outside the person's usual countries or hosts.

:func:`auth_facts` picks the few facts an evidence entry keeps (it rides on every hit of an
authentication event, so it stays small); :func:`findings` turns them into weighted sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.link.inventory import IdentityContext

_KEPT = ("outcome", "mfa", "method", "protocol", "logon_type", "risk_level", "ticket_encryption")
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
CAP = 1.4


def auth_facts(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The authentication facts of an event that scoring reads, or None: most events have none."""
    auth = event.get("authentication")
    if not auth:
        return None
    facts = {k: auth[k] for k in _KEPT if auth.get(k) is not None}
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


def findings(auth: Mapping[str, Any] | None, host: str | None, identity: IdentityContext | None
             ) -> list[tuple[str, float, str]]:
    """(kind, weight, sentence) for one observation. A failed sign-in grants nothing: no finding."""
    if not auth or auth.get("outcome") == "failure":
        return []
    out: list[tuple[str, float, str]] = []
    if auth.get("mfa") is False:
        out.append(("no_mfa", NO_MFA, "signed in without MFA"))
    legacy = legacy_of(auth)
    if legacy:
        out.append(("legacy", LEGACY_AUTH, f"legacy authentication ({legacy})"))
    risk = str(auth.get("risk_level") or "").lower()
    if risk in RISK:
        out.append(("idp_risk", RISK[risk], f"the identity provider rated the sign-in risk {risk}"))
    if identity is None:
        return out
    interactive = str(auth.get("logon_type") or "").lower() in INTERACTIVE_LOGONS
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
