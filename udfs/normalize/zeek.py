"""Zeek JSON logs (``LogAscii::use_json``, or JSON streaming logs with ``_path``/``_write_ts``).

    {"ts": 1547188415.857497, "uid": "CAcJw21BbVedgFnYH3", "id.orig_h": "192.168.86.167", "id.orig_p": 38339,
     "id.resp_h": "192.168.86.1", "id.resp_p": 53, "proto": "udp", "service": "dns", ...}

The log a record comes from is ``_path`` when present, otherwise recognised from its fields. conn,
dns, http, ssl, files, smb_files, smb_mapping, kerberos, dce_rpc, ntlm and notice have specific
mappings; any other Zeek log (weird, x509, ssh, ...) normalizes with the connection fields it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import NormalizeError
from udfs.normalize.fields import (
    basename,
    flat,
    opt_int,
    opt_ip,
    opt_port,
    opt_str,
    opt_str_list,
    soft_bool,
    soft_ip,
    split_user,
)
from udfs.normalize.timeparse import to_epoch_ms

FORMAT = "zeek"
PARSER_VERSION = "zeek/1"
D = dict[str, Any]


def looks_like(doc: D) -> bool:
    return "ts" in doc and ("uid" in doc or "fuid" in doc or "_path" in doc or "id.orig_h" in doc)


def log_type(doc: D) -> str:
    path = doc.get("_path")
    if isinstance(path, str) and path:
        return path
    if "conn_state" in doc or "history" in doc:
        return "conn"
    if "qtype_name" in doc or "rcode_name" in doc or ("query" in doc and "trans_id" in doc):
        return "dns"
    if "method" in doc or "status_code" in doc or "uri" in doc:
        return "http"
    if "ssl_history" in doc or "server_name" in doc or ("cipher" in doc and "established" in doc):
        return "ssl"
    if "fuid" in doc and ("tx_hosts" in doc or "seen_bytes" in doc or "mime_type" in doc):
        return "files"
    if isinstance(doc.get("action"), str) and doc["action"].startswith("SMB::"):
        return "smb_files"
    if "share_type" in doc:
        return "smb_mapping"
    if "request_type" in doc and "client" in doc:
        return "kerberos"
    if "endpoint" in doc and "operation" in doc:
        return "dce_rpc"
    if "server_nb_computer_name" in doc or "domainname" in doc:
        return "ntlm"
    if "note" in doc and "msg" in doc:
        return "notice"
    return "unknown"


def _id(doc: D, key: str) -> Any:
    """``id.orig_h`` flat (Zeek's JSON writer) or ``id: {orig_h: ...}`` nested (some shippers)."""
    flat = f"id.{key}"
    if flat in doc:
        return doc[flat]
    nested = doc.get("id")
    return nested.get(key) if isinstance(nested, dict) else None


def _endpoints(doc: D, out: D) -> None:
    probe = {"oh": _id(doc, "orig_h"), "op": _id(doc, "orig_p"), "rh": _id(doc, "resp_h"), "rp": _id(doc, "resp_p")}
    out["source"] = flat(
        {"ip": opt_ip(probe, "oh", "id.orig_h", FORMAT), "port": opt_port(probe, "op", "id.orig_p", FORMAT)}
    )
    out["destination"] = flat(
        {"ip": opt_ip(probe, "rh", "id.resp_h", FORMAT), "port": opt_port(probe, "rp", "id.resp_p", FORMAT)}
    )


_DIRECTION = {(True, True): "internal", (True, False): "outbound", (False, True): "inbound", (False, False): "external"}


def _duration_ms(seconds: Any) -> int | None:
    """Zeek's ``duration``: seconds as a float (a string in some exports); absent for one-packet flows."""
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**9:
        return None
    return round(seconds * 1000)


def _conn(doc: D, out: D) -> None:
    src, dst = out.get("source") or {}, out.get("destination") or {}
    src["bytes"] = opt_int(doc, "orig_bytes", "orig_bytes", FORMAT)
    src["packets"] = opt_int(doc, "orig_pkts", "orig_pkts", FORMAT)
    dst["bytes"] = opt_int(doc, "resp_bytes", "resp_bytes", FORMAT)
    dst["packets"] = opt_int(doc, "resp_pkts", "resp_pkts", FORMAT)
    out["source"], out["destination"] = flat(src), flat(dst)
    total = [v for v in (src.get("bytes"), dst.get("bytes")) if v is not None]
    packets = [v for v in (src.get("packets"), dst.get("packets")) if v is not None]
    local = (soft_bool(doc.get("local_orig")), soft_bool(doc.get("local_resp")))
    net = out["network"]
    net["bytes"] = sum(total) if total else None
    net["packets"] = sum(packets) if packets else None
    net["direction"] = _DIRECTION.get(local) if None not in local else None  # type: ignore[arg-type]
    out["event"]["action"] = opt_str(doc, "conn_state", "conn_state", FORMAT)
    out["event"]["duration_ms"] = _duration_ms(doc.get("duration"))


def _dns(doc: D, out: D) -> None:
    answers = opt_str_list(doc, "answers", "answers", FORMAT)
    resolved = [ip for ip in (soft_ip(a) for a in answers) if ip]
    out["dns"] = flat(
        {
            "id": opt_str(doc, "trans_id", "trans_id", FORMAT),
            "question_name": opt_str(doc, "query", "query", FORMAT),
            "question_type": opt_str(doc, "qtype_name", "qtype_name", FORMAT),
            "answers": answers or None,
            "resolved_ip": resolved or None,
            "response_code": opt_str(doc, "rcode_name", "rcode_name", FORMAT),
        }
    )
    out["network"]["protocol"] = "dns"
    out["event"]["type"] = ["protocol", "info"]


def _http(doc: D, out: D) -> None:
    mimes = opt_str_list(doc, "resp_mime_types", "resp_mime_types", FORMAT)
    host = opt_str(doc, "host", "host", FORMAT)
    out["http"] = flat(
        {
            "method": opt_str(doc, "method", "method", FORMAT),
            "url": opt_str(doc, "uri", "uri", FORMAT),
            "status_code": opt_int(doc, "status_code", "status_code", FORMAT),
            "user_agent": opt_str(doc, "user_agent", "user_agent", FORMAT),
            "host": host,
            "referrer": opt_str(doc, "referrer", "referrer", FORMAT),
            "version": opt_str(doc, "version", "version", FORMAT),
            "request_body_bytes": opt_int(doc, "request_body_len", "request_body_len", FORMAT),
            "response_body_bytes": opt_int(doc, "response_body_len", "response_body_len", FORMAT),
            "mime_type": mimes[0] if mimes else None,
        }
    )
    if host and out.get("destination") is not None:
        out["destination"]["domain"] = host
    user = opt_str(doc, "username", "username", FORMAT)
    if user:
        out["user"] = {"name": user}
    out["network"]["protocol"] = "http"
    out["event"]["type"] = ["protocol", "connection"]


def _ssl(doc: D, out: D) -> None:
    sni = opt_str(doc, "server_name", "server_name", FORMAT)
    out["tls"] = flat(
        {
            "server_name": sni,
            "version": opt_str(doc, "version", "version", FORMAT),
            "cipher": opt_str(doc, "cipher", "cipher", FORMAT),
            "established": soft_bool(doc.get("established")),
            "ja3": opt_str(doc, "ja3", "ja3", FORMAT),
            "ja3s": opt_str(doc, "ja3s", "ja3s", FORMAT),
            "server_subject": opt_str(doc, "subject", "subject", FORMAT),
            "server_issuer": opt_str(doc, "issuer", "issuer", FORMAT),
        }
    )
    if sni and out.get("destination") is not None:
        out["destination"]["domain"] = sni
    out["network"]["protocol"] = "tls"
    out["event"]["type"] = ["protocol", "connection"]


def _files(doc: D, out: D) -> None:
    tx = opt_str_list(doc, "tx_hosts", "tx_hosts", FORMAT)
    rx = opt_str_list(doc, "rx_hosts", "rx_hosts", FORMAT)
    if out.get("source") is None and tx:
        out["source"] = flat({"ip": soft_ip(tx[0])})
    if out.get("destination") is None and rx:
        out["destination"] = flat({"ip": soft_ip(rx[0])})
    name = opt_str(doc, "filename", "filename", FORMAT)
    out["file"] = flat(
        {
            "name": name,
            "mime_type": opt_str(doc, "mime_type", "mime_type", FORMAT),
            "size": opt_int(doc, "total_bytes", "total_bytes", FORMAT)
            or opt_int(doc, "seen_bytes", "seen_bytes", FORMAT),
            "hash": flat(
                {
                    "md5": opt_str(doc, "md5", "md5", FORMAT),
                    "sha1": opt_str(doc, "sha1", "sha1", FORMAT),
                    "sha256": opt_str(doc, "sha256", "sha256", FORMAT),
                }
            ),
        }
    )
    out["id"] = opt_str(doc, "fuid", "fuid", FORMAT)
    out["event"]["category"] = ["file", "network"]
    out["event"]["type"] = ["info"]
    out["network"]["protocol"] = (opt_str(doc, "source", "source", FORMAT) or "").lower() or None


def _smb_files(doc: D, out: D) -> None:
    path = opt_str(doc, "path", "path", FORMAT)
    name = opt_str(doc, "name", "name", FORMAT)
    full = f"{path}\\{name.lstrip(chr(92))}" if path and name else (path or name)
    out["file"] = flat(
        {"path": full, "name": basename(name), "directory": path, "size": opt_int(doc, "size", "size", FORMAT)}
    )
    action = opt_str(doc, "action", "action", FORMAT)
    out["event"]["action"] = action.split("::", 1)[-1].lower().replace("_", "-") if action else None
    out["event"]["category"] = ["network", "file"]
    out["event"]["type"] = ["access"]
    out["network"]["protocol"] = "smb"


def _smb_mapping(doc: D, out: D) -> None:
    out["file"] = flat({"path": opt_str(doc, "path", "path", FORMAT)})
    out["event"]["action"] = "smb-tree-connect"
    out["event"]["category"] = ["network", "file"]
    out["event"]["type"] = ["access"]
    out["network"]["protocol"] = "smb"


def _kerberos(doc: D, out: D) -> None:
    client = opt_str(doc, "client", "client", FORMAT)
    if client:
        name, _, realm = client.partition("/")
        out["user"] = flat({"name": name or None, "domain": realm or None})
    ok = soft_bool(doc.get("success"))
    outcome = None if ok is None else ("success" if ok else "failure")
    out["event"]["outcome"] = outcome
    out["authentication"] = flat(
        {
            "protocol": "kerberos",
            "outcome": outcome,
            "failure_reason": opt_str(doc, "error_msg", "error_msg", FORMAT),
            "ticket_encryption": opt_str(doc, "cipher", "cipher", FORMAT),
        }
    )
    service = opt_str(doc, "service", "service", FORMAT)
    if service and out.get("destination") is not None:
        out["destination"]["domain"] = service
    request = opt_str(doc, "request_type", "request_type", FORMAT)
    out["event"]["action"] = f"kerberos-{request.lower()}-request" if request else None
    out["event"]["category"] = ["network", "authentication"]
    out["event"]["type"] = ["protocol", "start"]
    out["network"]["protocol"] = "kerberos"


def _dce_rpc(doc: D, out: D) -> None:
    out["event"]["action"] = opt_str(doc, "operation", "operation", FORMAT)
    out["event"]["type"] = ["protocol"]
    out["network"]["protocol"] = "dce_rpc"


def _ntlm(doc: D, out: D) -> None:
    user = opt_str(doc, "username", "username", FORMAT)
    name, domain = split_user(user)
    out["user"] = flat({"name": name, "domain": opt_str(doc, "domainname", "domainname", FORMAT) or domain})
    client_host = opt_str(doc, "hostname", "hostname", FORMAT)
    if client_host and out.get("source") is not None:
        out["source"]["domain"] = client_host
    server = opt_str(doc, "server_dns_computer_name", "server_dns_computer_name", FORMAT)
    if server and out.get("destination") is not None:
        out["destination"]["domain"] = server
    ok = soft_bool(doc.get("success"))
    outcome = None if ok is None else ("success" if ok else "failure")
    out["event"]["outcome"] = outcome
    out["authentication"] = flat({"protocol": "ntlm", "outcome": outcome})
    out["event"]["category"] = ["network", "authentication"]
    out["event"]["type"] = ["protocol", "start"]
    out["network"]["protocol"] = "ntlm"


def _notice(doc: D, out: D) -> None:
    probe = {"src": doc.get("src"), "dst": doc.get("dst"), "p": doc.get("p")}
    if out.get("source") is None:
        out["source"] = flat({"ip": opt_ip(probe, "src", "src", FORMAT)})
    if out.get("destination") is None:
        out["destination"] = flat(
            {"ip": opt_ip(probe, "dst", "dst", FORMAT), "port": opt_port(probe, "p", "p", FORMAT)}
        )
    note = opt_str(doc, "note", "note", FORMAT)
    out["rule"] = flat({"name": note, "ruleset": "zeek-notice"})
    out["event"]["kind"] = "alert"
    out["event"]["action"] = note
    out["event"]["reason"] = opt_str(doc, "msg", "msg", FORMAT)
    out["event"]["category"] = ["network", "intrusion_detection"]
    out["event"]["type"] = ["info"]


_HANDLERS: dict[str, Callable[[D, D], None]] = {
    "conn": _conn,
    "dns": _dns,
    "http": _http,
    "ssl": _ssl,
    "files": _files,
    "smb_files": _smb_files,
    "smb_mapping": _smb_mapping,
    "kerberos": _kerberos,
    "dce_rpc": _dce_rpc,
    "ntlm": _ntlm,
    "notice": _notice,
}


def parse(doc: D, *, raw_sha256: str, origin: Origin) -> D:
    if doc.get("ts") is None:
        raise NormalizeError("missing_field", "ts: required, missing", source_format=FORMAT)
    ts = to_epoch_ms(doc["ts"], "ts")
    kind = log_type(doc)
    out: D = {
        "timestamp_ms": ts,
        "source_format": FORMAT,
        "parser_version": PARSER_VERSION,
        "raw_sha256": raw_sha256,
        "id": opt_str(doc, "uid", "uid", FORMAT),
        "event": {
            "module": "zeek",
            "dataset": f"zeek.{kind}",
            "category": ["network"],
            "type": ["connection"],
        },
        "network": {
            "transport": opt_str(doc, "proto", "proto", FORMAT),
            "protocol": opt_str(doc, "service", "service", FORMAT),
            "community_id": opt_str(doc, "community_id", "community_id", FORMAT),
        },
        "origin": origin,
        "original": doc,
    }
    _endpoints(doc, out)
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(doc, out)
    out["network"] = flat(out["network"])
    return out
