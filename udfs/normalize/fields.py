"""Typed reads of vendor values, shared by every parser.

Two kinds of reader. ``req_*`` and the ``opt_*`` readers raise a ``schema`` :class:`NormalizeError`
naming the field path, what was expected and what came, when a value has a type no vendor would
send (an object where a port belongs). The ``soft_*`` readers return ``None`` for the placeholders
vendors really emit (``"-"``, ``""``, ``"(null)"``, ``"?"``) and for values they cannot read,
because a Windows ``IpAddress`` of ``"-"`` is normal telemetry, not bad input.
"""

from __future__ import annotations

import socket
from typing import Any

from udfs.normalize.errors import NormalizeError, field_error

# What vendors write when a field has no value.
PLACEHOLDERS = frozenset({"", "-", "--", "?", "(null)", "null", "n/a", "N/A", "NULL", "None", "none"})


def req_obj(doc: dict[str, Any], key: str, path: str, fmt: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        raise NormalizeError("missing_field", f"{path}: required, missing", source_format=fmt)
    if not isinstance(value, dict):
        raise field_error(path, "an object", value, source_format=fmt)
    return value


def req_str(doc: dict[str, Any], key: str, path: str, fmt: str) -> str:
    value = doc.get(key)
    if value is None or value == "":
        raise NormalizeError("missing_field", f"{path}: required, missing", source_format=fmt)
    if not isinstance(value, str):
        raise field_error(path, "a string", value, source_format=fmt)
    return value


def opt_obj(doc: dict[str, Any], key: str, path: str, fmt: str) -> dict[str, Any]:
    """An optional nested object; ``{}`` when absent, null or ``""`` (Okta sends ``"debugData": ""``)."""
    value = doc.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise field_error(path, "an object", value, source_format=fmt)
    return value


def opt_str(doc: dict[str, Any], key: str, path: str, fmt: str) -> str | None:
    """A string, or ``None`` for absent/placeholder; numbers are accepted as their text."""
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return None if value in PLACEHOLDERS else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise field_error(path, "a string", value, source_format=fmt)


def opt_int(doc: dict[str, Any], key: str, path: str, fmt: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    out = soft_int(value)
    if out is None and not (isinstance(value, str) and value.strip() in PLACEHOLDERS):
        raise field_error(path, "an integer", value, source_format=fmt)
    return out


def opt_port(doc: dict[str, Any], key: str, path: str, fmt: str) -> int | None:
    port = opt_int(doc, key, path, fmt)
    if port is not None and not 0 <= port <= 65535:
        raise field_error(path, "a port 0..65535", port, source_format=fmt)
    return port


def opt_ip(doc: dict[str, Any], key: str, path: str, fmt: str) -> str | None:
    """An IP address field that must hold an address when present (Zeek, Suricata, CloudTrail...)."""
    value = doc.get(key)
    if value is None or (isinstance(value, str) and value in PLACEHOLDERS):
        return None
    if not isinstance(value, str):
        raise field_error(path, "an IP address string", value, source_format=fmt)
    ip = soft_ip(value)
    if ip is None:
        raise field_error(path, "an IP address", value, source_format=fmt)
    return ip


def opt_str_list(doc: dict[str, Any], key: str, path: str, fmt: str) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, int | float) and not isinstance(item, bool):
                out.append(str(item))
            elif item is not None:
                raise field_error(f"{path}[{i}]", "a string", item, source_format=fmt)
        return out
    raise field_error(path, "a list of strings", value, source_format=fmt)


def soft_str(value: Any) -> str | None:
    if isinstance(value, str):
        return None if value in PLACEHOLDERS else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def soft_int(value: Any) -> int | None:
    """Decimal or ``0x`` hex (Windows writes pids both ways), or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 20:
            return None
        try:
            if text[:2] in ("0x", "0X"):
                return int(text, 16)
            return int(text)
        except ValueError:
            return None
    return None


def soft_port(value: Any) -> int | None:
    port = soft_int(value)
    return port if port is not None and 0 <= port <= 65535 else None


def soft_ip(value: Any) -> str | None:
    """A canonical IP string, or ``None``. IPv4-mapped IPv6 (``::ffff:10.0.0.1``) becomes IPv4.

    ``inet_pton``/``inet_ntop`` (C, strict: four decimal parts for IPv4) rather than ``ipaddress``,
    which costs several microseconds per address, and network events carry two.
    """
    if type(value) is not str or value in PLACEHOLDERS:
        return None
    text = value.strip().strip("[]")
    if text.startswith("::ffff:") and "." in text:
        text = text[7:]
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text.split("%", 1)[0]))
    except (OSError, ValueError):
        return None


def soft_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
    if isinstance(value, int):
        return bool(value)
    return None


def split_user(value: str | None) -> tuple[str | None, str | None]:
    """``DOMAIN\\user`` or ``user@domain`` to (name, domain)."""
    if not value:
        return None, None
    if "\\" in value:
        domain, _, name = value.partition("\\")
        return (name or None), (domain or None)
    if "@" in value:
        name, _, domain = value.partition("@")
        return (name or None), (domain or None)
    return value, None


def basename(path: str | None) -> str | None:
    if not path:
        return None
    cut = max(path.rfind("\\"), path.rfind("/"))
    return path[cut + 1 :] or None


def dirname(path: str | None) -> str | None:
    if not path:
        return None
    cut = max(path.rfind("\\"), path.rfind("/"))
    return path[:cut] or None if cut > 0 else None


def extension(path: str | None) -> str | None:
    name = basename(path)
    if not name or "." not in name:
        return None
    ext = name.rsplit(".", 1)[1]
    return ext.lower() if ext and len(ext) <= 16 else None


_HASH_KEYS = {
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA384": None,
    "SHA512": "sha512",
    "IMPHASH": "imphash",
}


def parse_hashes(value: Any) -> dict[str, str] | None:
    """Sysmon's ``SHA1=..,MD5=..,SHA256=..,IMPHASH=..`` to a hash dict."""
    if not isinstance(value, str) or "=" not in value:
        return None
    out: dict[str, str] = {}
    for part in value.split(","):
        algo, sep, digest = part.partition("=")
        key = _HASH_KEYS.get(algo.strip().upper())
        if sep and key and digest.strip():
            out[key] = digest.strip().lower()
    return out or None


def flat(value: dict[str, Any]) -> dict[str, Any] | None:
    """``value`` without its ``None`` entries, or ``None`` if nothing is left (one level, so cheap)."""
    out = {k: v for k, v in value.items() if v is not None}
    return out or None


def compact(value: dict[str, Any]) -> dict[str, Any] | None:
    """Drop ``None`` values and empty sub-dicts, so absent facts stay absent in the event."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict):
            item = compact(item)
            if item is None:
                continue
        out[key] = item
    return out or None
