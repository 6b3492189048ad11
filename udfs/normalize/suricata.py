"""Suricata EVE JSON (``eve.json``): one object per line, ``event_type`` says which.

    {"timestamp": "2024-05-01T12:00:00.123456+0000", "flow_id": 1234, "event_type": "alert",
     "src_ip": "10.0.0.5", "src_port": 49152, "dest_ip": "203.0.113.7", "dest_port": 443, "proto": "TCP",
     "alert": {"signature_id": 2100498, "signature": "...", "category": "...", "severity": 2}}

alert, flow, dns, http, tls and fileinfo have specific mappings (an alert's app-layer context too);
other event types (ssh, anomaly, stats, ...) normalize with the flow fields they have.
"""

from __future__ import annotations

from typing import Any

from schemas.event import Origin, is_technique_id
from udfs.normalize.errors import missing_field, require
from udfs.normalize.fields import (
    flat,
    opt_int,
    opt_ip,
    opt_obj,
    opt_port,
    opt_str,
    soft_int,
    soft_ip,
    soft_str,
)
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "suricata"
PARSER_VERSION = "suricata/1"
D = dict[str, Any]


def looks_like(doc: D) -> bool:
    return "event_type" in doc and "timestamp" in doc and ("src_ip" in doc or "flow_id" in doc or "stats" in doc)


def _techniques(metadata: D) -> list[str]:
    """ATT&CK ids ET/Suricata rule metadata carries (``mitre_technique_id``, ``mitre_attack``)."""
    found: list[str] = []
    for key in ("mitre_technique_id", "mitre_attack", "mitre_technique"):
        values = metadata.get(key)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and is_technique_id(value.strip().upper()):
                found.append(value.strip().upper())
    return found


def _http(doc: D, out: D) -> None:
    http = opt_obj(doc, "http", "http", FORMAT)
    if not http:
        return
    host = opt_str(http, "hostname", "http.hostname", FORMAT)
    out["http"] = flat(
        {
            "method": opt_str(http, "http_method", "http.http_method", FORMAT),
            "url": opt_str(http, "url", "http.url", FORMAT),
            "status_code": opt_int(http, "status", "http.status", FORMAT),
            "user_agent": opt_str(http, "http_user_agent", "http.http_user_agent", FORMAT),
            "host": host,
            "referrer": opt_str(http, "http_refer", "http.http_refer", FORMAT),
            "version": opt_str(http, "protocol", "http.protocol", FORMAT),
            "response_body_bytes": opt_int(http, "length", "http.length", FORMAT),
            "mime_type": opt_str(http, "http_content_type", "http.http_content_type", FORMAT),
        }
    )
    if host and out.get("destination") is not None:
        out["destination"]["domain"] = host


def _dns(doc: D, out: D) -> None:
    dns = opt_obj(doc, "dns", "dns", FORMAT)
    if not dns:
        return
    name = soft_str(dns.get("rrname"))
    qtype = soft_str(dns.get("rrtype"))
    queries = dns.get("queries")
    if name is None and isinstance(queries, list) and queries and isinstance(queries[0], dict):
        name, qtype = soft_str(queries[0].get("rrname")), soft_str(queries[0].get("rrtype"))
    answers: list[str] = []
    if dns.get("type") == "answer" and soft_str(dns.get("rdata")):
        answers.append(str(dns["rdata"]))
    listed = dns.get("answers")
    if isinstance(listed, list):
        answers += [str(a["rdata"]) for a in listed if isinstance(a, dict) and soft_str(a.get("rdata"))]
    grouped = dns.get("grouped")
    if not answers and isinstance(grouped, dict):  # "grouped" repeats "answers" when both are on
        for values in grouped.values():
            if isinstance(values, list):
                answers += [str(v) for v in values if isinstance(v, str | int)]
    resolved = [ip for ip in (soft_ip(a) for a in answers) if ip]
    out["dns"] = flat(
        {
            "id": soft_str(dns.get("id")),
            "type": soft_str(dns.get("type")),
            "question_name": name,
            "question_type": qtype,
            "answers": answers or None,
            "resolved_ip": resolved or None,
            "response_code": soft_str(dns.get("rcode")),
        }
    )


def _tls(doc: D, out: D) -> None:
    tls = opt_obj(doc, "tls", "tls", FORMAT)
    if not tls:
        return
    sni = opt_str(tls, "sni", "tls.sni", FORMAT)
    ja3, ja3s = opt_obj(tls, "ja3", "tls.ja3", FORMAT), opt_obj(tls, "ja3s", "tls.ja3s", FORMAT)
    fingerprint = opt_str(tls, "fingerprint", "tls.fingerprint", FORMAT)
    out["tls"] = flat(
        {
            "server_name": sni,
            "version": opt_str(tls, "version", "tls.version", FORMAT),
            "ja3": soft_str(ja3.get("hash")),
            "ja3s": soft_str(ja3s.get("hash")),
            "server_subject": opt_str(tls, "subject", "tls.subject", FORMAT),
            "server_issuer": opt_str(tls, "issuerdn", "tls.issuerdn", FORMAT),
            "server_hash_sha1": fingerprint.replace(":", "").lower() if fingerprint else None,
        }
    )
    if sni and out.get("destination") is not None:
        out["destination"]["domain"] = sni


def _flow(doc: D, out: D) -> None:
    flow = opt_obj(doc, "flow", "flow", FORMAT)
    if not flow:
        return
    src, dst = out.get("source") or {}, out.get("destination") or {}
    src["bytes"] = soft_int(flow.get("bytes_toserver"))
    src["packets"] = soft_int(flow.get("pkts_toserver"))
    dst["bytes"] = soft_int(flow.get("bytes_toclient"))
    dst["packets"] = soft_int(flow.get("pkts_toclient"))
    out["source"], out["destination"] = flat(src), flat(dst)
    net = out["network"]
    if src.get("bytes") is not None and dst.get("bytes") is not None:
        net["bytes"] = src["bytes"] + dst["bytes"]
    if src.get("packets") is not None and dst.get("packets") is not None:
        net["packets"] = src["packets"] + dst["packets"]
    age = soft_int(flow.get("age"))  # seconds from the flow's first to its last packet
    if age is not None and age >= 0:
        out["event"]["duration_ms"] = age * 1000


def _fileinfo(doc: D, out: D) -> None:
    info = opt_obj(doc, "fileinfo", "fileinfo", FORMAT)
    name = opt_str(info, "filename", "fileinfo.filename", FORMAT)
    out["file"] = flat(
        {
            "name": name.rsplit("/", 1)[-1] if name else None,
            "path": name,
            "size": opt_int(info, "size", "fileinfo.size", FORMAT),
            "mime_type": opt_str(info, "mimetype", "fileinfo.mimetype", FORMAT),
            "hash": flat(
                {
                    "md5": opt_str(info, "md5", "fileinfo.md5", FORMAT),
                    "sha1": opt_str(info, "sha1", "fileinfo.sha1", FORMAT),
                    "sha256": opt_str(info, "sha256", "fileinfo.sha256", FORMAT),
                }
            ),
        }
    )


def _alert(doc: D, out: D) -> None:
    alert = opt_obj(doc, "alert", "alert", FORMAT)
    out["event"]["kind"] = "alert"
    out["event"]["category"] = ["network", "intrusion_detection"]
    out["event"]["type"] = ["denied"] if alert.get("action") == "blocked" else ["allowed"]
    out["event"]["action"] = opt_str(alert, "action", "alert.action", FORMAT)
    out["event"]["severity"] = opt_int(alert, "severity", "alert.severity", FORMAT)
    out["rule"] = flat(
        {
            "id": opt_str(alert, "signature_id", "alert.signature_id", FORMAT),
            "name": opt_str(alert, "signature", "alert.signature", FORMAT),
            "category": opt_str(alert, "category", "alert.category", FORMAT),
            "ruleset": "suricata",
        }
    )
    metadata = alert.get("metadata")
    if isinstance(metadata, dict):
        out["threat"] = {"technique_ids": _techniques(metadata)}


_TYPES: dict[str, tuple[list[str], list[str]]] = {
    "flow": (["network"], ["connection", "end"]),
    "netflow": (["network"], ["connection", "end"]),
    "dns": (["network"], ["protocol", "info"]),
    "http": (["network", "web"], ["protocol", "access"]),
    "tls": (["network"], ["protocol", "connection"]),
    "fileinfo": (["network", "file"], ["info"]),
}


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    require(doc, (("event_type",), ("timestamp",)), source_format=FORMAT)
    kind = opt_str(doc, "event_type", "event_type", FORMAT)
    if kind is None:
        raise missing_field("event_type", source_format=FORMAT)
    ts = to_epoch_ms(doc["timestamp"], "timestamp")
    category, types = _TYPES.get(kind, (["network"], ["info"]))
    app = opt_str(doc, "app_proto", "app_proto", FORMAT)
    out: D = {
        "timestamp_ms": ts,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "event": {"module": "suricata", "dataset": f"suricata.{kind}", "category": category, "type": types},
        "source": flat(
            {"ip": opt_ip(doc, "src_ip", "src_ip", FORMAT), "port": opt_port(doc, "src_port", "src_port", FORMAT)}
        ),
        "destination": flat(
            {"ip": opt_ip(doc, "dest_ip", "dest_ip", FORMAT), "port": opt_port(doc, "dest_port", "dest_port", FORMAT)}
        ),
        "network": {
            "transport": (opt_str(doc, "proto", "proto", FORMAT) or "").lower() or None,
            "protocol": app if app and app != "failed" else (kind if kind in ("dns", "http", "tls") else None),
            "community_id": opt_str(doc, "community_id", "community_id", FORMAT),
        },
        "origin": origin,
        "original": doc,
    }
    flow_id = doc.get("flow_id")
    if flow_id is not None:
        out["event"]["id"] = str(flow_id)
    if kind == "alert":
        _alert(doc, out)
    elif kind == "fileinfo":
        _fileinfo(doc, out)
    # App-layer sections appear on their own event type and as context on alerts and fileinfo.
    _http(doc, out)
    _dns(doc, out)
    _tls(doc, out)
    _flow(doc, out)
    out["network"] = flat(out["network"])
    return out
