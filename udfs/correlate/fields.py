"""Field values of a hit, by the names correlation rules use.

Rules name fields three ways, and one resolver serves them all:

- the linked entity: ``host``, ``user``, ``entity`` and ``link.*`` (set by :mod:`udfs.link`);
- ECS paths of the normalized event (``source.ip``, ``user.name``; what ``taxonomy: ecs`` rules and
  our own sequence rules use);
- Sigma taxonomy / vendor names (``ComputerName``, ``TargetUserName``, ``SourceIp``): looked up in
  the vendor document the event keeps in ``original`` (Windows fields sit there flat), then through
  a small table of the common Sigma names to their ECS paths.

A missing field is ``None``; a rule that groups by it then skips the hit (counted by the caller).
"""

from __future__ import annotations

from typing import Any

# Sigma taxonomy names (lower case) -> ECS paths of the unified event, for events whose vendor
# document does not carry the name itself (Zeek, Okta, CloudTrail, plain JSON, ...).
SIGMA_TO_ECS: dict[str, tuple[str, ...]] = {
    "computername": ("host.name",),
    "computer": ("host.name",),
    "hostname": ("host.name",),
    "host": ("host.name",),
    "workstationname": ("source.domain",),
    "workstation": ("source.domain",),
    "user": ("user.name",),
    "username": ("user.name",),
    "targetusername": ("user.name",),
    "subjectusername": ("user.name",),
    "accountname": ("user.name",),
    "sourceip": ("source.ip",),
    "src_ip": ("source.ip",),
    "srcip": ("source.ip",),
    "ipaddress": ("source.ip",),
    "clientip": ("source.ip",),
    "destinationip": ("destination.ip",),
    "dst_ip": ("destination.ip",),
    "dest_ip": ("destination.ip",),
    "destinationport": ("destination.port",),
    "dst_port": ("destination.port",),
    "sourceport": ("source.port",),
    "src_port": ("source.port",),
    "destinationhostname": ("destination.domain",),
    "image": ("process.executable",),
    "commandline": ("process.command_line",),
    "parentimage": ("process.parent.executable",),
    "processid": ("process.pid",),
    "queryname": ("dns.question_name",),
    "eventid": ("event.code",),
    "logontype": ("authentication.logon_type",),
    "bytes_sent": ("source.bytes",),
    "bytesout": ("source.bytes",),
    "sentbytes": ("source.bytes",),
    "bytes_received": ("destination.bytes",),
    "bytesin": ("destination.bytes",),
    "receivedbytes": ("destination.bytes",),
    "eventname": ("cloud.api_call",),
    "eventsource": ("cloud.service",),
    "principal": ("cloud.principal",),
}

_HIT_KEYS = frozenset({"rule_id", "rule_title", "rule_source", "level", "techniques", "tactics"})


def walk(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


def resolve(hit: dict[str, Any], name: str) -> Any:
    """The value of field ``name`` in ``hit`` (a scalar, a list, or None)."""
    link = hit.get("link") or {}
    if name == "host":
        return link.get("host") or hit.get("host")
    if name == "user":
        return link.get("user") or hit.get("user")
    if name == "entity":
        return link.get("host") or hit.get("host") or link.get("user") or hit.get("user")
    if name.startswith("link."):
        return walk(link, name[5:].split("."))
    if name in _HIT_KEYS:
        return hit.get(name)
    event = hit.get("event") or {}
    parts = name.split(".")
    value = walk(event, parts) if len(parts) > 1 or name in event else None
    if value is not None:
        return value
    original = event.get("original") or {}
    value = original.get(name)
    if value is None and len(parts) > 1:
        value = walk(original, parts)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in original.items() if k.lower() == lower), None)
        if value is None:
            for path in SIGMA_TO_ECS.get(lower, ()):
                value = walk(event, path.split("."))
                if value is not None:
                    break
    return value


def scalar(value: Any) -> str | None:
    """A group-by / join value as text: lists give their first element; text is case-folded, since
    Windows names (hosts, users) are case-insensitive and Sigma matching is too."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text.lower() if text else None


def number(value: Any) -> float | None:
    """A numeric field value (value_sum / value_avg / value_percentile), or None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None
