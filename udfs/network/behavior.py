"""What network behaviour rules decide, as plain functions the job and the reference share.

A connection counts for a rule when its destination is outside the private ranges (or the rule
says ``internal``), not in an ``exclude`` network, and on one of the rule's ports. Windowed rules
(beacon, outbound_volume) are grouped and windowed by the JVM (:mod:`udfs.network.sql`) or by
:mod:`udfs.network.windows`; what the window holds comes back to :meth:`NetworkBehavior.window_hit`,
which decides and builds the hit. ``long_connection`` is decided per record
(:meth:`NetworkBehavior.record_hits`).

Beacons, RITA-style: connections closer than ``min_interval`` to the previous beat are one beat (a
burst of parallel connections is not a rhythm); the beats' intervals must be regular, their
coefficient of variation (stddev / mean) at most ``max_jitter``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from schemas.network import NetworkRule
from udfs.detect.catalog import Catalog, default_catalog

SOURCE_FORMAT = "network_behavior"  # the source_format of a windowed rule's summary event
WINDOWED = ("beacon", "outbound_volume")


@dataclass(frozen=True)
class Connection:
    ts: int
    src: str
    dst: str
    port: int | None
    bytes_out: int | None
    duration_ms: int | None


def connection_of(event: dict[str, Any]) -> Connection | None:
    """The connection an event records (Zeek conn, Suricata flow, firewall logs...), or None."""
    meta = event.get("event") or {}
    if "network" not in (meta.get("category") or ()) or "connection" not in (meta.get("type") or ()):
        return None
    src, dst = event.get("source") or {}, event.get("destination") or {}
    if not src.get("ip") or not dst.get("ip"):
        return None
    return Connection(event["timestamp_ms"], src["ip"], dst["ip"], dst.get("port"), src.get("bytes"),
                      meta.get("duration_ms"))


@lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def group_key(rule: NetworkRule, conn: Connection) -> str:
    """What a windowed rule groups by: the source for volume, the source and destination for beacons."""
    if rule.analytic == "outbound_volume":
        return conn.src
    return f"{conn.src}|{conn.dst}|{'' if conn.port is None else conn.port}"


class NetworkBehavior:
    def __init__(self, rules: list[NetworkRule], catalog: Catalog | None = None) -> None:
        self.rules = {r.id: r for r in rules}
        self.windowed = [r for r in rules if r.analytic in WINDOWED]
        self.per_record = [r for r in rules if r.analytic == "long_connection"]
        self.catalog = catalog or default_catalog()
        self.excluded = {r.id: [ipaddress.ip_network(n, strict=False) for n in r.exclude] for r in rules}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def counts(self, rule: NetworkRule, conn: Connection) -> bool:
        address = _address(conn.dst)
        if address is None:
            return False
        if not rule.internal and not address.is_global:
            return False
        if rule.ports and conn.port not in rule.ports:
            return False
        return not any(address in net for net in self.excluded[rule.id])

    def feeds(self, conn: Connection) -> list[str]:
        """The windowed rules a connection counts for (the job tags its row with them)."""
        return [r.id for r in self.windowed if self.counts(r, conn)]

    # -- decisions --------------------------------------------------------------------------------

    def record_hits(self, event: dict[str, Any], conn: Connection) -> list[dict[str, Any]]:
        """``long_connection`` hits of one connection record (on the record itself)."""
        hits = []
        for rule in self.per_record:
            if conn.duration_ms is None or conn.duration_ms < rule.min_duration_ms or not self.counts(rule, conn):
                continue
            details = {"duration_s": round(conn.duration_ms / 1000, 3), "destination": _endpoint(conn.dst, conn.port),
                       "bytes_out": conn.bytes_out,
                       "explanation": f"one connection from {conn.src} to {_endpoint(conn.dst, conn.port)} lasted "
                                      f"{conn.duration_ms / 1000:.0f} s (at least {rule.min_duration_ms / 1000:.0f} s)"}
            hits.append(self._hit(rule, event, details))
        return hits

    def window_hit(self, rule_id: str, gkey: str, window_end_ms: int, count: int, total_bytes: int,
                   times: str | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A window's (hit, summary event), when what it holds meets the rule; else None. ``times``:
        the connections' event times (ms), comma separated, any order (beacon rules)."""
        rule = self.rules.get(rule_id)
        if rule is None:  # removed since the savepoint
            return None
        start = window_end_ms - rule.window_ms
        if rule.analytic == "beacon":
            details = beacon_details(rule, sorted(int(t) for t in (times or "").split(",") if t))
        else:
            details = volume_details(rule, total_bytes, count)
        if details is None:
            return None
        parts = gkey.split("|")
        src, dst, port = parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else "")
        details = {**details, "window_start_ms": start, "window_end_ms": window_end_ms}
        if dst is not None:
            details["destination"] = _endpoint(dst, int(port) if port else None)
        event = _summary_event(rule, src, dst, int(port) if port else None, start, window_end_ms - 1, total_bytes)
        return self._hit(rule, event, details), event

    def _hit(self, rule: NetworkRule, event: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
        techniques = [self.catalog.resolve_technique(t).resolved for t in rule.techniques]
        return {
            "hit_id": f"{event['raw_sha256']}:{rule.id}",
            "timestamp_ms": event["timestamp_ms"],
            "rule_id": rule.id,
            "rule_title": rule.title,
            "rule_source": "network",
            "level": rule.level,
            "techniques": techniques,
            "tactics": self.catalog.tactics_for_all(techniques),
            "host": None,
            "user": None,
            "details": details,
            "event": event,
        }


def beacon_details(rule: NetworkRule, times: list[int]) -> dict[str, Any] | None:
    """The beat of sorted connection times, when it is regular enough to be a beacon."""
    beats: list[int] = []
    for t in times:
        if not beats or t - beats[-1] >= rule.min_interval_ms:
            beats.append(t)
    if len(beats) < rule.min_connections:
        return None
    intervals = [b - a for a, b in itertools.pairwise(beats)]
    mean = statistics.fmean(intervals)
    jitter = statistics.pstdev(intervals) / mean
    if jitter > rule.max_jitter:
        return None
    return {"connections": len(times), "beats": len(beats), "interval_s": round(mean / 1000, 3),
            "jitter": round(jitter, 4),
            "explanation": f"{len(beats)} connections about every {mean / 1000:.0f} s (jitter {jitter:.2f}, "
                           f"at most {rule.max_jitter})"}


def volume_details(rule: NetworkRule, total_bytes: int, count: int) -> dict[str, Any] | None:
    if rule.min_bytes is None or total_bytes < rule.min_bytes:
        return None
    return {"bytes_out": total_bytes, "connections": count,
            "explanation": f"{total_bytes / 1e6:.1f} MB sent over {count} connections "
                           f"(at least {rule.min_bytes / 1e6:.1f} MB)"}


def _endpoint(ip: str, port: int | None) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return host if port is None else f"{host}:{port}"


def _summary_event(rule: NetworkRule, src: str, dst: str | None, port: int | None, start: int, ts: int,
                   total_bytes: int) -> dict[str, Any]:
    """What a windowed rule saw, as an event: its id names the rule, the pair and the window."""
    ident = f"{rule.id}|{src}|{dst or ''}|{port or ''}|{start}"
    destination: dict[str, Any] = {"ip": dst, "port": port} if dst is not None else {}
    return {
        "timestamp_ms": ts,
        "source_format": SOURCE_FORMAT,
        "raw_sha256": hashlib.sha256(ident.encode()).hexdigest()[:16],
        "id": f"{rule.analytic}:{src}->{_endpoint(dst, port) if dst else '*'}@{start}",
        "event": {"kind": "signal", "category": ["network"], "type": ["connection"], "action": rule.analytic,
                  "dataset": SOURCE_FORMAT},
        "host": {},
        "source": {"ip": src, "bytes": total_bytes},
        "destination": destination,
    }
