"""Link one hit to the host and user it belongs to, at its event time.

- Endpoint telemetry names its host; the inventory may rename it (aliases).
- A network event that carries only addresses (Zeek, Suricata) takes the host bound to its source
  address at that time, else the one bound to its destination (the source first: the initiator is
  the party a C2 or lateral-movement rule is about). Both sides are kept as ``source_host`` /
  ``destination_host``.
- A user is named by the inventory (any alias), else by a principal learned in-stream (an AWS role
  session -> the person who assumed it), else by the canonical spelling of its name.
- An identity or cloud event without a host address is tied to the host where its user has an
  interactive session at that time.

The hit gains ``link``: ``{host, user, source_host, destination_host, criticality, via: [...]}``,
where ``via`` says how each linked value was found (binding kind, subject, since when).
"""

from __future__ import annotations

from typing import Any

from udfs.link.canonical import bindable_ip, canonical_user, is_service_account
from udfs.link.facts import own_host
from udfs.link.inventory import InventoryIndex
from udfs.link.table import BindingTable


class Linker:
    def __init__(self, inventory: InventoryIndex | None = None) -> None:
        self.inventory = inventory or InventoryIndex()

    def link(self, hit: dict[str, Any], table: BindingTable) -> dict[str, Any]:
        event = hit.get("event") or {}
        ts = hit["timestamp_ms"]
        via: list[dict[str, Any]] = []
        raw_host = (event.get("host") or {}).get("name")
        host = self.inventory.host(raw_host) if own_host(event) else None
        src = bindable_ip((event.get("source") or {}).get("ip"))
        dst = bindable_ip((event.get("destination") or {}).get("ip"))
        src_host = self._ip_host(src, ts, table)
        dst_host = self._ip_host(dst, ts, table)
        if host is None:
            for field, ip, found in (("source.ip", src, src_host), ("destination.ip", dst, dst_host)):
                if found is not None:
                    host = found[0]
                    via.append({"entity": "host", "field": field, "value": ip, "by": found[1], "since_ms": found[2]})
                    break
        user = self._user(event, ts, table, via)
        if user is not None and is_service_account(user):
            user = f"{user}@{host}" if host else None
        if host is None and user is not None:
            session = table.lookup(f"session:{user}", ts)
            if session is not None:
                host = session[0]
                via.append({"entity": "host", "field": "user", "value": user, "by": session[1],
                            "since_ms": session[2]})
        link = {
            "host": host,
            "user": user,
            "source_host": src_host[0] if src_host else None,
            "destination_host": dst_host[0] if dst_host else None,
            "criticality": self.inventory.criticality.get(host) if host else None,
            "via": via,
        }
        return {**hit, "link": link}

    def _ip_host(self, ip: str | None, ts: int, table: BindingTable) -> tuple[str, str, int | None] | None:
        if ip is None:
            return None
        found = table.lookup(f"ip:{ip}", ts)
        if found is not None:
            return found
        static = self.inventory.host_of_ip.get(ip)
        return (static, "inventory", None) if static else None

    def _user(self, event: dict[str, Any], ts: int, table: BindingTable, via: list[dict[str, Any]]) -> str | None:
        user = event.get("user") or {}
        cloud = event.get("cloud") or {}
        idents = [user.get("id"), user.get("email"), user.get("name"), cloud.get("principal")]
        name = user.get("name") or user.get("email") or cloud.get("principal")
        known = self.inventory.user(*idents)
        if known is not None:
            if known != canonical_user(name):
                via.append({"entity": "user", "field": "user", "value": name, "by": "inventory", "since_ms": None})
            return known
        for ident in idents:
            if not ident:
                continue
            learned = table.lookup(f"principal:{ident.strip().lower()}", ts)
            if learned is not None:
                via.append({"entity": "user", "field": "user", "value": ident, "by": learned[1],
                            "since_ms": learned[2]})
                return learned[0]
        return canonical_user(name)

