"""Linux audit records to an event draft, shared by raw ``audit.log`` lines and their JSON renderings.

An audit event is one or more records (``SYSCALL`` + ``EXECVE`` + ``CWD`` + ``PATH``... sharing one
``msg=audit(time:serial)``). A parser turns whatever it got (one line, several lines, a Laurel or
go-audit JSON object) into :class:`AuditEvent`; :func:`to_draft` maps it once for all of them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from schemas.event import Origin
from udfs.normalize.errors import NormalizeError
from udfs.normalize.fields import basename, flat, soft_int, soft_ip, soft_str

D = dict[str, Any]

# key=value, key="quoted value", key='quoted user-space message'
_KV = re.compile(r"""([A-Za-z_][\w-]*)=("[^"]*"|'[^']*'|\S*)""")
# The colon after the header is missing in some daemon records (DAEMON_CONFIG on RHEL 7); AUOMS (the
# Azure Monitor audit plugin) writes ``audit(...)`` without ``msg=``: ``type=AUOMS_EXECVE audit(t:s): ...``.
_HEADER = re.compile(
    r"^(?:node=(\S+)\s+)?type=(\S+)\s+(?:msg=)?audit\((\d+(?:\.\d+)?):(\d+)\):?\s*(.*)$", re.DOTALL
)
# Fields the kernel hex-encodes when the value holds a space, quote or control character.
_HEX_FIELDS = frozenset(
    {"exe", "comm", "cwd", "name", "proctitle", "cmd", "acct", "path", "data", "key", "old", "new", "ocomm"}
)
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
# AUOMS quotes the whole command line without escaping the quotes inside it: the value runs to the
# last quote that is followed by another ``key=`` or the end of the record.
_CMDLINE = re.compile(r'(?:^|\s)cmdline="(.*?)"(?=\s+[A-Za-z_][\w-]*=|\s*$)', re.DOTALL)


@dataclass
class AuditRecord:
    type: str
    fields: D


@dataclass
class AuditEvent:
    time_ms: int
    serial: str
    node: str | None = None
    records: list[AuditRecord] = field(default_factory=list)

    def first(self, kind: str) -> D | None:
        for rec in self.records:
            if rec.type == kind:
                return rec.fields
        return None


def _decode_hex(value: str) -> str:
    try:
        return bytes.fromhex(value).replace(b"\x00", b" ").decode("utf-8", "replace").strip()
    except ValueError:
        return value


def parse_kv(body: str) -> D:
    """One record's ``key=value`` body, user-space ``msg='...'`` merged in, hex values decoded."""
    enriched = ""
    if "\x1d" in body:  # log_format=ENRICHED: interpreted names after a group separator
        body, _, enriched = body.partition("\x1d")
    out: D = {}
    if 'cmdline="' in body:
        match = _CMDLINE.search(body)
        if match is not None:
            out["cmdline"] = match.group(1)
            body = body[: match.start()] + " " + body[match.end() :]
    for key, raw in _KV.findall(body):
        if raw[:1] == "'" and key == "msg":
            out.update(parse_kv(raw[1:-1]))
            continue
        if raw[:1] == '"':
            out[key] = raw[1:-1]
        elif (key in _HEX_FIELDS or (key[0] == "a" and key[1:].isdigit())) and len(raw) % 2 == 0 and _HEX.match(raw):
            out[key] = _decode_hex(raw) if len(raw) > 2 or key != "key" else raw
        else:
            out[key] = raw
    for key, raw in _KV.findall(enriched):
        out[key] = raw[1:-1] if raw[:1] == '"' else raw
    return out


def parse_line(line: str, fmt: str) -> tuple[str | None, str, int, str, D]:
    """(node, type, time_ms, serial, fields) of one ``type=... msg=audit(...)`` line."""
    match = _HEADER.match(line.strip())
    if match is None and "audit(" not in line:
        raise NormalizeError(
            "missing_field", f"msg=audit(<time>:<serial>): required, missing in {line[:60]!r}", source_format=fmt
        )
    if match is None:
        raise NormalizeError(
            "schema",
            f"$: expected an audit record like 'type=SYSCALL msg=audit(1700000000.123:42): ...', got {line[:60]!r}",
            source_format=fmt,
        )
    node, kind, stamp, serial, body = match.groups()
    return node, kind, int(float(stamp) * 1000), serial, parse_kv(body)


# x86_64 numbers of the syscalls detections ask about; other arches keep their number.
_X86_64 = {
    "0": "read",
    "1": "write",
    "2": "open",
    "9": "mmap",
    "10": "mprotect",
    "13": "rt_sigaction",
    "23": "select",
    "41": "socket",
    "42": "connect",
    "43": "accept",
    "44": "sendto",
    "49": "bind",
    "50": "listen",
    "56": "clone",
    "57": "fork",
    "58": "vfork",
    "59": "execve",
    "62": "kill",
    "76": "truncate",
    "82": "rename",
    "83": "mkdir",
    "84": "rmdir",
    "86": "link",
    "87": "unlink",
    "88": "symlink",
    "90": "chmod",
    "91": "fchmod",
    "92": "chown",
    "101": "ptrace",
    "105": "setuid",
    "106": "setgid",
    "113": "setreuid",
    "117": "setresuid",
    "159": "adjtimex",
    "165": "mount",
    "175": "init_module",
    "176": "delete_module",
    "188": "setxattr",
    "257": "openat",
    "263": "unlinkat",
    "264": "renameat",
    "268": "fchmodat",
    "288": "accept4",
    "313": "finit_module",
    "316": "renameat2",
    "322": "execveat",
}
_SYSCALL_CATEGORY = {
    "execve": (["process"], ["start"]),
    "execveat": (["process"], ["start"]),
    "connect": (["network"], ["connection", "start"]),
    "accept": (["network"], ["connection", "start"]),
    "accept4": (["network"], ["connection", "start"]),
    "bind": (["network"], ["start"]),
    "kill": (["process"], ["end"]),
    "ptrace": (["process"], ["access"]),
    "init_module": (["driver"], ["start"]),
    "finit_module": (["driver"], ["start"]),
    "delete_module": (["driver"], ["end"]),
}
_FILE_SYSCALLS = {
    "open",
    "openat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "chmod",
    "fchmodat",
    "chown",
    "mkdir",
    "rmdir",
    "link",
    "symlink",
    "truncate",
    "setxattr",
}
_AUTH_TYPES = {
    "USER_AUTH": ["start"],
    "USER_LOGIN": ["start"],
    "USER_LOGOUT": ["end"],
    "LOGIN": ["start"],
    "USER_START": ["start"],
    "USER_END": ["end"],
    "CRED_ACQ": ["start"],
    "CRED_DISP": ["end"],
    "CRED_REFR": ["info"],
    "USER_ACCT": ["info"],
    "USER_ERR": ["info"],
    "USER_ROLE_CHANGE": ["change"],
}
_IAM_TYPES = {
    "ADD_USER": ["user", "creation"],
    "DEL_USER": ["user", "deletion"],
    "ADD_GROUP": ["group", "creation"],
    "DEL_GROUP": ["group", "deletion"],
    "USER_MGMT": ["user", "change"],
    "GRP_MGMT": ["group", "change"],
    "USER_CHAUTHTOK": ["user", "change"],
    "ACCT_LOCK": ["user", "change"],
    "ACCT_UNLOCK": ["user", "change"],
}
_UNSET_IDS = frozenset({"4294967295", "-1"})  # auid/ses of a process no login session owns (AUOMS: -1)
# Records that describe the acting process and its system call: the kernel's SYSCALL, and AUOMS's
# own aggregates, which carry the syscall by name plus ``cmdline`` and ``cwd`` in one record.
_SYSCALL_TYPES = ("SYSCALL", "AUOMS_EXECVE", "AUOMS_SYSCALL", "AUOMS_SYSCALL_FRAGMENT")


def _user(fields: D) -> D | None:
    uid = soft_str(fields.get("uid"))
    auid = soft_str(fields.get("auid"))
    name = soft_str(fields.get("acct")) or soft_str(fields.get("UID")) or soft_str(fields.get("id"))
    if name and name.isdigit() and "id" in fields and "acct" not in fields:
        uid, name = name, None  # ADD_USER's id=1000 is a uid, not a name
    name = name or soft_str(fields.get("user"))  # AUOMS: the uid's name
    uid = uid if uid not in _UNSET_IDS else None
    if not (uid or name):
        return None
    privileged = True if uid == "0" or soft_str(fields.get("euid")) == "0" or name == "root" else None
    audit_user = auid if auid and auid not in _UNSET_IDS and auid != uid else None
    return flat(
        {
            "name": name or ("root" if uid == "0" else None),
            "id": uid,
            "privileged": privileged,
            "target": {"id": audit_user} if audit_user else None,
        }
    )


def _sockaddr(saddr: Any) -> D | None:
    """The remote address of a SOCKADDR record (hex ``sockaddr`` struct, or Laurel's decoded object)."""
    if isinstance(saddr, dict):
        return flat({"ip": soft_str(saddr.get("addr")), "port": soft_int(saddr.get("port"))})
    if not isinstance(saddr, str) or len(saddr) < 16 or not _HEX.match(saddr):
        return None
    raw = bytes.fromhex(saddr)
    family = int.from_bytes(raw[0:2], "little")
    if family == 2 and len(raw) >= 8:  # AF_INET: port (big endian), then 4 address bytes
        return {"ip": ".".join(str(b) for b in raw[4:8]), "port": int.from_bytes(raw[2:4], "big")}
    if family == 10 and len(raw) >= 24:  # AF_INET6
        return {"ip": str(ipaddress.IPv6Address(raw[8:24])), "port": int.from_bytes(raw[2:4], "big")}
    return None


def to_draft(ev: AuditEvent, *, fmt: str, version: str, raw_sha256: str, origin: Origin, original: D) -> D:
    if not ev.records:
        raise NormalizeError("missing_field", "$: no audit record in the event", source_format=fmt)
    main = ev.records[0]
    syscall = ev.first("SYSCALL")
    if syscall is None and main.type.startswith("AUOMS_"):
        syscall = next((r.fields for r in ev.records if r.type in _SYSCALL_TYPES), None)
    syscall = syscall or {}
    acting = syscall or main.fields
    out: D = {
        "timestamp_ms": ev.time_ms,
        "source_format": fmt,
        "parser_version": version,
        "raw_sha256": raw_sha256,
        "id": f"{ev.node + '/' if ev.node else ''}{ev.time_ms / 1000:.3f}:{ev.serial}",
        "event": {"module": "auditd", "dataset": "auditd.log", "action": main.type.lower(), "type": ["info"]},
        "host": {"name": ev.node, "os": {"family": "linux"}},
        "origin": origin,
        "original": original,
    }
    exe = soft_str(acting.get("exe"))
    process: D = {
        "pid": soft_int(acting.get("pid")),
        "executable": exe,
        "name": soft_str(acting.get("comm")) or basename(exe),
        "parent": flat({"pid": soft_int(acting.get("ppid"))}),
    }
    execve = ev.first("EXECVE")
    if execve is not None:
        args = execve.get("ARGV")
        if not isinstance(args, list):
            count = soft_int(execve.get("argc")) or 0
            args = [str(execve.get(f"a{i}", "")) for i in range(min(count, 4096))]
        process["args"] = [str(a) for a in args] or None
        process["command_line"] = " ".join(process["args"] or []) or None
    cmdline = soft_str(acting.get("cmdline"))  # AUOMS renders the whole command line itself
    if cmdline and not process.get("command_line"):
        process["command_line"] = cmdline
    title = ev.first("PROCTITLE")
    if title is not None and not process.get("command_line"):
        argv = title.get("ARGV")
        process["command_line"] = (
            " ".join(map(str, argv)) if isinstance(argv, list) else soft_str(title.get("proctitle"))
        )
    cwd = ev.first("CWD")
    if cwd is not None:
        process["working_directory"] = soft_str(cwd.get("cwd"))
    elif "cwd" in acting:
        process["working_directory"] = soft_str(acting.get("cwd"))
    if main.type == "USER_CMD":
        process["command_line"] = soft_str(main.fields.get("cmd"))
    out["process"] = flat(process)
    out["user"] = _user(acting)

    name = soft_str(syscall.get("SYSCALL")) or soft_str(syscall.get("syscall"))
    if name and name.isdigit() and soft_str(syscall.get("arch")) in ("c000003e", "0xc000003e"):
        name = _X86_64.get(name, name)
    if syscall:
        out["event"]["action"] = name
        success = soft_str(syscall.get("success"))
        out["event"]["outcome"] = {"yes": "success", "no": "failure"}.get(success or "")
        cat = _SYSCALL_CATEGORY.get(name or "")
        if cat:
            out["event"]["category"], out["event"]["type"] = cat
        elif name in _FILE_SYSCALLS:
            out["event"]["category"], out["event"]["type"] = ["file"], ["change"]
        else:
            out["event"]["category"] = ["process"]
        key = soft_str(syscall.get("key"))
        if key:
            out["rule"] = {"name": key, "ruleset": "auditd"}
    elif main.type in _AUTH_TYPES:
        _auth(main, out)
    elif main.type in _IAM_TYPES:
        out["event"]["category"], out["event"]["type"] = ["iam"], _IAM_TYPES[main.type]
        _result(main.fields, out)
    elif main.type in ("SERVICE_START", "SERVICE_STOP"):
        out["event"]["category"] = ["configuration"]
        out["event"]["type"] = ["start" if main.type == "SERVICE_START" else "end"]
        out["service"] = flat({"name": soft_str(main.fields.get("unit")), "state": main.type[8:].lower()})
        _result(main.fields, out)
    elif main.type in ("CONFIG_CHANGE", "DAEMON_CONFIG", "NETFILTER_CFG", "USYS_CONFIG"):
        out["event"]["category"], out["event"]["type"] = ["configuration"], ["change"]
        _result(main.fields, out)
    paths = [r.fields for r in ev.records if r.type == "PATH"]
    named = [p for p in paths if soft_str(p.get("nametype")) not in ("PARENT",) and soft_str(p.get("name"))]
    if named and process.get("executable") != soft_str(named[0].get("name")):
        path = soft_str(named[0].get("name"))
        out["file"] = flat({"path": path, "name": basename(path)})
    sock = ev.first("SOCKADDR")
    if sock is not None:
        out["destination"] = _sockaddr(sock.get("saddr"))
    return out


def _result(fields: D, out: D) -> None:
    res = soft_str(fields.get("res"))
    if res:
        out["event"]["outcome"] = "success" if res in ("success", "1", "yes") else "failure"


def _auth(main: AuditRecord, out: D) -> None:
    fields = main.fields
    out["event"]["category"] = ["authentication"]
    out["event"]["type"] = _AUTH_TYPES[main.type]
    _result(fields, out)
    out["source"] = flat({"ip": soft_ip(fields.get("addr")), "domain": soft_str(fields.get("hostname"))})
    out["authentication"] = flat(
        {
            "method": soft_str(fields.get("op")),
            "outcome": out["event"].get("outcome"),
            "session_id": soft_str(fields.get("ses")) if fields.get("ses") not in _UNSET_IDS else None,
        }
    )
