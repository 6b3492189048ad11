"""One spelling per host and per user, so that sources that spell them differently meet.

Hosts: Sysmon says ``WS-FINANCE-07.corp.local``, a Windows logon's WorkstationName says
``WS-FINANCE-07``, DHCP says ``ws-finance-07``: all become ``ws-finance-07`` (lower case, first DNS
label). An asset inventory alias wins over this rule.

Users: ``CORP\\j.doe``, ``j.doe@corp.com`` (Okta, Entra), ``arn:aws:sts::1:assumed-role/Admin/j.doe@corp.com``
(CloudTrail) all become ``j.doe``. Machine and service accounts (``SYSTEM``, ``WS-07$``, ``root``) are
scoped to their host (``system@ws-07``): the same name on two hosts is not one person.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

SERVICE_ACCOUNTS = frozenset({
    "system", "local service", "localservice", "network service", "networkservice", "anonymous logon",
    "root", "daemon", "nobody", "dwm-1", "umfd-0", "umfd-1", "-",
})


@lru_cache(maxsize=65536)
def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def bindable_ip(text: str | None) -> str | None:
    """The IP in canonical form if it can name one host (not loopback, unspecified, multicast,
    link-local or broadcast), else None."""
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return None
    if isinstance(ip, ipaddress.IPv4Address) and str(ip) == "255.255.255.255":
        return None
    return str(ip)


@lru_cache(maxsize=65536)
def canonical_host(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip(".").lower()
    if not name or name == "-":
        return None
    if "\\" in name:  # DOMAIN\HOST
        name = name.rsplit("\\", 1)[-1]
    if is_ip(name):
        return None  # an address is not a host name; linking resolves it
    return name.split(".", 1)[0] or None


@lru_cache(maxsize=65536)
def user_alias(text: str | None) -> str | None:
    """The lower-cased form an inventory alias or a learned principal is looked up by."""
    return text.strip().lower() if text and text.strip() else None


@lru_cache(maxsize=65536)
def canonical_user(name: str | None) -> str | None:
    """``DOMAIN\\user``, ``user@domain``, IAM / STS ARNs -> ``user`` (lower case)."""
    if not name:
        return None
    text = name.strip().lower()
    if text.startswith("arn:"):
        resource = text.split(":", 5)[-1]  # user/jdoe, assumed-role/Role/session, root
        text = resource.rsplit("/", 1)[-1]
    if "\\" in text:
        text = text.rsplit("\\", 1)[-1]
    if "@" in text:
        text = text.split("@", 1)[0]
    return text or None


def is_service_account(user: str) -> bool:
    return user in SERVICE_ACCOUNTS or user.endswith("$")
