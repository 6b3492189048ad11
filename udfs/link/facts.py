"""Binding facts: what one normalized event teaches about who is where, at its event time.

A fact binds a *subject* to a *value* from the event's time on:

- ``ip:<address>`` -> host: the host reports its own address (``host.ip``); a Sysmon network event's
  local side (``network.direction`` egress: the source; ingress: the destination); a Windows logon's
  ``IpAddress`` with its ``WorkstationName``; a DHCP lease (Zeek ``dhcp.log``, Suricata ``dhcp``).
- ``session:<user>`` -> host: an interactive or remote-interactive logon (4624) puts the user at that
  host; the matching logoff (4634 / 4647) ends it (value None, only if the session is still there).
- ``principal:<identifier>`` -> user: cloud and identity events that show several identifiers of one
  person (object id, UPN, e-mail), and AWS role sessions minted by AssumeRole* for a known caller.

Facts are cheap to find and most events have none; they travel to the learner keyed by subject.
"""

from __future__ import annotations

from typing import Any

from udfs.link.canonical import bindable_ip, canonical_host, canonical_user, is_service_account, user_alias

NETWORK_SENSORS = frozenset({"zeek", "suricata", "network_behavior"})  # host field: the sensor, not a party
INTERACTIVE_LOGONS = frozenset({
    "Interactive", "RemoteInteractive", "CachedInteractive", "CachedRemoteInteractive", "Unlock", "CachedUnlock",
    "2", "10", "11", "12", "7", "13",
})
LOGON_CODES = frozenset({"4624", "4625", "4648", "4776"})
LOGOFF_CODES = frozenset({"4634", "4647"})
IDENTITY_FORMATS = frozenset({"okta", "entra_id", "cloudtrail"})


def fact(subject: str, value: str | None, ts: int, via: str, if_value: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"subject": subject, "value": value, "ts": ts, "via": via}
    if if_value is not None:
        out["if_value"] = if_value
    return out


def own_host(event: dict[str, Any]) -> str | None:
    """The host that recorded the event (endpoint telemetry), or None (network sensors, cloud)."""
    if event.get("source_format") in NETWORK_SENSORS:
        return None
    host = event.get("host") or {}
    return canonical_host(host.get("name") or host.get("hostname"))


def binding_facts(event: dict[str, Any]) -> list[dict[str, Any]]:
    ts = event["timestamp_ms"]
    meta = event.get("event") or {}
    out: list[dict[str, Any]] = []
    host = own_host(event)
    if host is not None:
        out += _endpoint(event, meta, host, ts)
    out += _logon_workstation(event, meta, ts)
    out += _dhcp(event, ts)
    if event.get("source_format") in IDENTITY_FORMATS or event.get("cloud"):
        out += _principals(event, ts)
    return out


def _endpoint(event: dict[str, Any], meta: dict[str, Any], host: str, ts: int) -> list[dict[str, Any]]:
    out = []
    for raw in (event.get("host") or {}).get("ip") or ():
        ip = bindable_ip(raw)
        if ip:
            out.append(fact(f"ip:{ip}", host, ts, "host.ip"))
    direction = (event.get("network") or {}).get("direction")
    if "network" in (meta.get("category") or ()) and direction:
        side = {"egress": "source", "outbound": "source", "ingress": "destination", "inbound": "destination"}
        local = side.get(direction)
        ip = bindable_ip((event.get(local) or {}).get("ip")) if local else None
        if ip:
            out.append(fact(f"ip:{ip}", host, ts, "endpoint-network"))
    code = str(meta.get("code") or "")
    user = canonical_user((event.get("user") or {}).get("name"))
    auth = event.get("authentication") or {}
    if user and not is_service_account(user):
        if code == "4624" and meta.get("outcome") != "failure" and auth.get("logon_type") in INTERACTIVE_LOGONS:
            out.append(fact(f"session:{user}", host, ts, "logon-session"))
        elif code in LOGOFF_CODES:
            out.append(fact(f"session:{user}", None, ts, "logoff", if_value=host))
    return out


def _logon_workstation(event: dict[str, Any], meta: dict[str, Any], ts: int) -> list[dict[str, Any]]:
    """4624 / 4625 / 4648 / 4776 name the client as IpAddress + WorkstationName (-> source.ip/.domain)."""
    if str(meta.get("code") or "") not in LOGON_CODES:
        return []
    source = event.get("source") or {}
    ip, workstation = bindable_ip(source.get("ip")), canonical_host(source.get("domain"))
    return [fact(f"ip:{ip}", workstation, ts, "logon-workstation")] if ip and workstation else []


def _dhcp(event: dict[str, Any], ts: int) -> list[dict[str, Any]]:
    original = event.get("original") or {}
    meta = event.get("event") or {}
    fmt = event.get("source_format")
    if fmt == "zeek" and (original.get("_path") == "dhcp" or meta.get("dataset") == "zeek.dhcp"
                          or "assigned_addr" in original):
        ip = bindable_ip(original.get("assigned_addr") or original.get("assigned_ip"))
        name = canonical_host(original.get("host_name") or original.get("client_fqdn"))
    elif fmt == "suricata" and original.get("event_type") == "dhcp":
        dhcp = original.get("dhcp") or {}
        ip = bindable_ip(dhcp.get("assigned_ip") or dhcp.get("client_ip"))
        name = canonical_host(dhcp.get("hostname"))
    else:
        return []
    return [fact(f"ip:{ip}", name, ts, "dhcp")] if ip and name else []


def _principals(event: dict[str, Any], ts: int) -> list[dict[str, Any]]:
    user = event.get("user") or {}
    cloud = event.get("cloud") or {}
    person = canonical_user(user.get("email") or user.get("name") or cloud.get("principal"))
    out = []
    if person and not is_service_account(person):
        for ident in (user.get("id"), user.get("email"), cloud.get("principal")):
            alias = user_alias(ident)
            if alias and canonical_user(alias) != person:  # only identifiers that do not spell the name
                out.append(fact(f"principal:{alias}", person, ts, "identity-event"))
    out += _assumed_role(event, person, ts)
    return out


def _assumed_role(event: dict[str, Any], caller: str | None, ts: int) -> list[dict[str, Any]]:
    """AssumeRole* mints a role session (an ARN later events act as) for a caller we can name."""
    original = event.get("original") or {}
    name = str(original.get("eventName") or "")
    if not name.startswith("AssumeRole"):
        return []
    response = original.get("responseElements") or {}
    if not isinstance(response, dict):
        return []
    session = ((response.get("assumedRoleUser") or {}) if isinstance(response.get("assumedRoleUser"), dict)
               else {}).get("arn")
    who = canonical_user(response.get("subject") or response.get("subjectFromWebIdentityToken")) or caller
    alias = user_alias(session)
    if not alias or not who or is_service_account(who):
        return []
    return [fact(f"principal:{alias}", who, ts, f"aws-{name.lower()}")]
