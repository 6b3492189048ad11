"""The Windows event-id mapping layer: a :class:`WinRecord` to an event draft, for every wrapping.

Events the issue names (Sysmon, Security, PowerShell, System) have a specific mapping; every other
event of any channel still normalizes through the generic mapping (common fields such as ``Image``,
``SubjectUserName`` or ``IpAddress``), never to the dead letter. Field names are those of the
event's manifest (Sysmon schema, Security auditing), which is what Sigma rules use too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.event import Origin
from udfs.normalize.fields import (
    PLACEHOLDERS,
    basename,
    dirname,
    extension,
    flat,
    parse_hashes,
    soft_bool,
    soft_int,
    soft_ip,
    soft_port,
    soft_str,
    split_user,
)
from udfs.normalize.windows.record import WinRecord
from udfs.normalize.windows.values import tidy

D = dict[str, Any]

_FAMILY_BY_CHANNEL = {
    "microsoft-windows-windows defender/operational": "defender",
    "microsoft-windows-sysmon/operational": "sysmon",
    "linux-sysmon/operational": "sysmon",
    "security": "security",
    "microsoft-windows-powershell/operational": "powershell",
    "windows powershell": "powershell",
    "powershellcore/operational": "powershell",
    "system": "system",
}
_FAMILY_BY_PROVIDER = {
    "microsoft-windows-windows defender": "defender",
    "microsoft-windows-sysmon": "sysmon",
    "linux-sysmon": "sysmon",
    "microsoft-windows-security-auditing": "security",
    "microsoft-windows-powershell": "powershell",
    "powershell": "powershell",
    "powershellcore": "powershell",
    "service control manager": "system",
}


def family(channel: str | None, provider: str | None) -> str:
    """``sysmon``, ``security``, ``powershell``, ``system``, ``defender`` or ``other``; channel casing varies."""
    if channel:
        fam = _FAMILY_BY_CHANNEL.get(channel.lower())
        if fam:
            return fam
    if provider:
        return _FAMILY_BY_PROVIDER.get(provider.lower(), "other")
    return "other"


# ---------------------------------------------------------------- value helpers


def _s(d: D, key: str) -> str | None:
    value = d.get(key)
    if type(value) is str:  # the common case, inlined: this runs a dozen times per event
        return None if value in PLACEHOLDERS else value
    return None if value is None else soft_str(value)


def _i(d: D, key: str) -> int | None:
    value = d.get(key)
    return value if type(value) is int else soft_int(value)


_SYSTEM_SIDS = frozenset({"S-1-5-18", "S-1-5-19", "S-1-5-20"})
_SYSTEM_NAMES = frozenset({"system", "local service", "network service", "administrator", "root"})
_INTEGRITY_BY_LABEL = {
    "S-1-16-0": "Untrusted",
    "S-1-16-4096": "Low",
    "S-1-16-8192": "Medium",
    "S-1-16-8448": "Medium",
    "S-1-16-12288": "High",
    "S-1-16-16384": "System",
    "S-1-16-20480": "Protected",
}


def privileged_hint(name: str | None, sid: str | None) -> bool | None:
    """True for SYSTEM/service accounts, built-in Administrator (RID 500) and root; else unknown."""
    if sid and (sid in _SYSTEM_SIDS or sid.endswith("-500") or sid == "0"):
        return True
    if name and (name.lower() in _SYSTEM_NAMES or name.endswith("$")):
        # machine accounts (NAME$) act with SYSTEM rights on their own host
        return True
    return None


def user_of(name: str | None, domain: str | None = None, sid: str | None = None) -> D | None:
    if name and domain is None:
        name, domain = split_user(name)
    if not (name or sid):
        return None
    return flat({"name": name, "domain": domain, "id": sid, "privileged": privileged_hint(name, sid)})


def _proc(d: D, image_key: str = "Image", pid_key: str = "ProcessId", guid_key: str = "ProcessGuid") -> D | None:
    image = _s(d, image_key)
    return flat({"pid": _i(d, pid_key), "entity_id": _s(d, guid_key), "executable": image, "name": basename(image)})


def _file(path: str | None, hashes: Any = None) -> D | None:
    if not path:
        return None
    return flat(
        {
            "path": path,
            "name": basename(path),
            "directory": dirname(path),
            "extension": extension(path),
            "hash": parse_hashes(hashes),
        }
    )


_HIVES = {
    "HKLM": "HKLM",
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKU": "HKU",
    "HKEY_USERS": "HKU",
    "HKCU": "HKCU",
    "HKEY_CURRENT_USER": "HKCU",
    "HKCR": "HKCR",
    "HKEY_CLASSES_ROOT": "HKCR",
}


def _registry(path: str | None, value_event: bool, data: str | None = None) -> D | None:
    """Sysmon ``TargetObject`` to ECS registry fields; value events end in the value name."""
    if not path:
        return None
    hive_part, _, rest = path.partition("\\")
    hive = _HIVES.get(hive_part.upper())
    key, value = (rest or None), None
    if value_event and rest and "\\" in rest:
        key, _, value = rest.rpartition("\\")
    return flat({"path": path, "hive": hive, "key": key, "value": value, "data": data})


# ---------------------------------------------------------------- Sysmon


def _sysmon_base(d: D, out: D) -> D | None:
    proc = _proc(d)
    user = _s(d, "User")
    if proc is not None and user:
        proc["user"] = user
    out["user"] = user_of(user)
    out["process"] = proc
    return proc


def _sysmon_process_only(d: D, out: D) -> None:  # 5, 25 and others that name only the acting process
    _sysmon_base(d, out)


def _sysmon_1(d: D, out: D) -> None:
    proc = _sysmon_base(d, out) or {}
    proc["command_line"] = _s(d, "CommandLine")
    proc["working_directory"] = _s(d, "CurrentDirectory")
    proc["integrity_level"] = _s(d, "IntegrityLevel")
    proc["hash"] = parse_hashes(d.get("Hashes"))
    proc["pe"] = flat(
        {
            "original_file_name": _s(d, "OriginalFileName"),
            "description": _s(d, "Description"),
            "product": _s(d, "Product"),
            "company": _s(d, "Company"),
            "file_version": _s(d, "FileVersion"),
        }
    )
    parent_image = _s(d, "ParentImage")
    proc["parent"] = flat(
        {
            "pid": _i(d, "ParentProcessId"),
            "entity_id": _s(d, "ParentProcessGuid"),
            "executable": parent_image,
            "name": basename(parent_image),
            "command_line": _s(d, "ParentCommandLine"),
        }
    )
    out["process"] = proc
    if out["user"] is not None and proc.get("integrity_level") in ("High", "System"):
        out["user"]["privileged"] = True


def _sysmon_3(d: D, out: D) -> None:
    _sysmon_base(d, out)
    out["source"] = flat(
        {"ip": soft_ip(d.get("SourceIp")), "port": soft_port(d.get("SourcePort")), "domain": _s(d, "SourceHostname")}
    )
    out["destination"] = flat(
        {
            "ip": soft_ip(d.get("DestinationIp")),
            "port": soft_port(d.get("DestinationPort")),
            "domain": _s(d, "DestinationHostname"),
        }
    )
    initiated = soft_bool(d.get("Initiated"))
    out["network"] = flat(
        {
            "transport": (_s(d, "Protocol") or "").lower() or None,
            "protocol": _s(d, "DestinationPortName"),
            "direction": None if initiated is None else ("egress" if initiated else "ingress"),
        }
    )


def _sysmon_image_file(d: D, out: D) -> None:  # 6 driver, 7 image load
    if "Image" in d:
        _sysmon_base(d, out)
    out["file"] = _file(_s(d, "ImageLoaded"), d.get("Hashes"))


def _sysmon_access(d: D, out: D) -> None:  # 8 CreateRemoteThread, 10 ProcessAccess
    # Sysmon writes ...ProcessGuid in 8 and ...ProcessGUID in 10.
    src_guid = "SourceProcessGuid" if "SourceProcessGuid" in d else "SourceProcessGUID"
    tgt_guid = "TargetProcessGuid" if "TargetProcessGuid" in d else "TargetProcessGUID"
    proc = _proc(d, "SourceImage", "SourceProcessId", src_guid) or {}
    proc["target"] = _proc(d, "TargetImage", "TargetProcessId", tgt_guid)
    user = _s(d, "SourceUser")
    proc["user"] = user
    out["process"] = flat(proc)
    out["user"] = user_of(user)
    target_user = user_of(_s(d, "TargetUser"))
    if out["user"] is not None and target_user is not None:
        out["user"]["target"] = target_user


def _sysmon_file(d: D, out: D) -> None:  # 2, 11, 15, 23, 26
    _sysmon_base(d, out)
    out["file"] = _file(_s(d, "TargetFilename"), d.get("Hashes") or d.get("Hash"))


def _sysmon_registry(d: D, out: D) -> None:  # 12, 13, 14
    _sysmon_base(d, out)
    kind = _s(d, "EventType") or ""
    value_event = kind in ("SetValue", "DeleteValue", "CreateValue") or "Details" in d
    out["registry"] = _registry(_s(d, "TargetObject"), value_event, _s(d, "Details") or _s(d, "NewName"))


def _sysmon_pipe(d: D, out: D) -> None:  # 17, 18
    _sysmon_base(d, out)
    pipe = _s(d, "PipeName")
    out["file"] = flat({"name": pipe, "path": pipe})


def _sysmon_dns(d: D, out: D) -> None:  # 22
    _sysmon_base(d, out)
    answers: list[str] = []
    resolved: list[str] = []
    for raw in (_s(d, "QueryResults") or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("type:"):  # "type:  5 host.example" = CNAME record
            item = item.split(None, 2)[-1]
        ip = soft_ip(item)
        if ip:
            resolved.append(ip)
            answers.append(ip)
        else:
            answers.append(item)
    status = _s(d, "QueryStatus")
    out["dns"] = flat(
        {
            "question_name": _s(d, "QueryName"),
            "answers": answers or None,
            "resolved_ip": resolved or None,
            "response_code": "NOERROR" if status == "0" else status,
        }
    )
    out["network"] = {"protocol": "dns"}


# ---------------------------------------------------------------- Security

_LOGON_TYPES = {
    "0": "System",
    "2": "Interactive",
    "3": "Network",
    "4": "Batch",
    "5": "Service",
    "7": "Unlock",
    "8": "NetworkCleartext",
    "9": "NewCredentials",
    "10": "RemoteInteractive",
    "11": "CachedInteractive",
    "12": "CachedRemoteInteractive",
    "13": "CachedUnlock",
}
_NTSTATUS = {
    "0xc0000064": "user name does not exist",
    "0xc000006a": "wrong password",
    "0xc000006d": "bad user name or password",
    "0xc000006e": "account restriction",
    "0xc000006f": "outside allowed logon hours",
    "0xc0000070": "workstation restriction",
    "0xc0000071": "password expired",
    "0xc0000072": "account disabled",
    "0xc0000133": "clock skew",
    "0xc000015b": "logon type not granted",
    "0xc0000193": "account expired",
    "0xc0000224": "password must change",
    "0xc0000234": "account locked out",
    "0xc0000413": "authentication firewall",
}
_KERBEROS_STATUS = {
    "0x6": "client not found",
    "0x7": "server not found",
    "0x12": "client revoked (disabled, expired or locked)",
    "0x17": "password expired",
    "0x18": "pre-authentication failed (wrong password)",
    "0x25": "clock skew",
}
_TICKET_ENCRYPTION = {
    "0x1": "DES-CBC-CRC",
    "0x3": "DES-CBC-MD5",
    "0x11": "AES128-CTS-HMAC-SHA1-96",
    "0x12": "AES256-CTS-HMAC-SHA1-96",
    "0x17": "RC4-HMAC",
    "0x18": "RC4-HMAC-EXP",
}


def _status(value: Any) -> str | None:
    code = soft_str(value)
    if code is None:
        return None
    code = code.strip().lower()
    if code.isdigit():
        code = hex(int(code))
    return code


def _subject(d: D) -> D | None:
    return user_of(_s(d, "SubjectUserName"), _s(d, "SubjectDomainName"), _s(d, "SubjectUserSid"))


def _target(d: D) -> D | None:
    sid = _s(d, "TargetUserSid") or _s(d, "TargetSid")
    return user_of(_s(d, "TargetUserName"), _s(d, "TargetDomainName"), sid)


def _remote(d: D, out: D) -> None:
    out["source"] = flat(
        {
            "ip": soft_ip(d.get("IpAddress")),
            "port": soft_port(d.get("IpPort")),
            "domain": _s(d, "WorkstationName") or _s(d, "Workstation"),
        }
    )


def _named_process(d: D, name_key: str = "ProcessName", pid_key: str = "ProcessId") -> D | None:
    return _proc(d, name_key, pid_key, "-")


def _logon(d: D, out: D) -> None:  # 4624, 4625
    out["user"] = _target(d)
    _remote(d, out)
    out["process"] = _named_process(d)
    status = _status(d.get("SubStatus"))
    if status in (None, "0x0"):
        status = _status(d.get("Status"))
    failed = out["event"]["outcome"] == "failure"
    logon_type = _s(d, "LogonType")
    out["authentication"] = flat(
        {
            "logon_type": _LOGON_TYPES.get(logon_type or "", logon_type),
            "method": _s(d, "AuthenticationPackageName"),
            "protocol": (_s(d, "LmPackageName") or None) if not failed else None,
            "outcome": out["event"]["outcome"],
            "failure_reason": (_NTSTATUS.get(status or "", status)) if failed else None,
            "session_id": _s(d, "TargetLogonId"),
        }
    )
    if out["user"] is not None and _s(d, "ElevatedToken") in ("%%1842", "Yes"):
        out["user"]["privileged"] = True


def _logoff(d: D, out: D) -> None:  # 4634
    out["user"] = _target(d)
    logon_type = _s(d, "LogonType")
    out["authentication"] = flat(
        {"logon_type": _LOGON_TYPES.get(logon_type or "", logon_type), "session_id": _s(d, "TargetLogonId")}
    )


def _explicit_logon(d: D, out: D) -> None:  # 4648
    subject = _subject(d)
    if subject is not None:
        subject["target"] = user_of(_s(d, "TargetUserName"), _s(d, "TargetDomainName"))
    out["user"] = subject
    _remote(d, out)
    out["destination"] = flat({"domain": _s(d, "TargetServerName")})
    out["process"] = _named_process(d)


def _subject_only(d: D, out: D) -> None:
    out["user"] = _subject(d)
    proc = _named_process(d)
    if proc is not None:
        out["process"] = proc


def _special_privileges(d: D, out: D) -> None:  # 4672
    out["user"] = _subject(d) or {}
    out["user"]["privileged"] = True
    out["authentication"] = flat({"session_id": _s(d, "SubjectLogonId")})


def _process_create(d: D, out: D) -> None:  # 4688
    image = _s(d, "NewProcessName")
    parent = _s(d, "ParentProcessName")
    label = _s(d, "MandatoryLabel")
    integrity = _INTEGRITY_BY_LABEL.get(label or "", label)
    out["process"] = flat(
        {
            "pid": _i(d, "NewProcessId"),
            "executable": image,
            "name": basename(image),
            "command_line": _s(d, "CommandLine"),
            "integrity_level": integrity,
            "parent": flat({"pid": _i(d, "ProcessId"), "executable": parent, "name": basename(parent)}),
        }
    )
    # Since Windows 10 the new process's account is Target*; the creator stays Subject*.
    target = _target(d)
    user = target if target is not None and target.get("id") not in (None, "S-1-0-0") else _subject(d)
    if user is not None and (integrity in ("High", "System") or _s(d, "TokenElevationType") == "%%1937"):
        user["privileged"] = True
    out["user"] = user


def _service_install(d: D, out: D) -> None:  # 4697 (Security), 7045 (System)
    out["user"] = _subject(d) or user_of(None, None, out.pop("_sid", None))
    out["service"] = flat(
        {
            "name": _s(d, "ServiceName"),
            "path": _s(d, "ServiceFileName") or _s(d, "ImagePath"),
            "type": _s(d, "ServiceType"),
            "start_type": _s(d, "ServiceStartType") or _s(d, "StartType"),
            "account": _s(d, "ServiceAccount") or _s(d, "AccountName"),
        }
    )


def _service_state(d: D, out: D) -> None:  # 7036
    out["service"] = flat({"name": _s(d, "param1"), "state": _s(d, "param2")})


def _account_change(d: D, out: D) -> None:  # 4720, 4722, 4724, 4738, 4781...
    subject = _subject(d)
    target = _target(d)
    if subject is not None and target is not None:
        subject["target"] = target
    out["user"] = subject or target


def _group_change(d: D, out: D) -> None:  # 4728, 4732, 4756
    out["group"] = flat(
        {"name": _s(d, "TargetUserName"), "domain": _s(d, "TargetDomainName"), "id": _s(d, "TargetSid")}
    )
    subject = _subject(d)
    member = user_of(_s(d, "MemberName"), None, _s(d, "MemberSid"))
    if subject is not None and member is not None:
        subject["target"] = member
    out["user"] = subject or member


def _kerberos(d: D, out: D) -> None:  # 4768, 4769, 4771
    name = _s(d, "TargetUserName")
    if name and "@" in name:  # 4769 writes user@REALM
        name, _, realm = name.partition("@")
        out["user"] = user_of(name, _s(d, "TargetDomainName") or realm, _s(d, "TargetSid"))
    else:
        out["user"] = user_of(name, _s(d, "TargetDomainName"), _s(d, "TargetSid"))
    _remote(d, out)
    status = _status(d.get("Status"))
    if status is not None:
        out["event"]["outcome"] = "success" if status == "0x0" else "failure"
    enc = _status(d.get("TicketEncryptionType"))
    out["authentication"] = flat(
        {
            "protocol": "kerberos",
            "outcome": out["event"]["outcome"],
            "failure_reason": _KERBEROS_STATUS.get(status or "", status) if status not in (None, "0x0") else None,
            "ticket_encryption": _TICKET_ENCRYPTION.get(enc or "", enc) if enc not in (None, "0xffffffff") else None,
        }
    )
    out["destination"] = flat({"domain": _s(d, "ServiceName")})


def _ntlm_validate(d: D, out: D) -> None:  # 4776
    out["user"] = user_of(_s(d, "TargetUserName"))
    out["source"] = flat({"domain": _s(d, "Workstation")})
    status = _status(d.get("Status"))
    if status is not None:
        out["event"]["outcome"] = "success" if status == "0x0" else "failure"
    out["authentication"] = flat(
        {
            "protocol": "ntlm",
            "method": _s(d, "PackageName"),
            "outcome": out["event"]["outcome"],
            "failure_reason": _NTSTATUS.get(status or "", status) if status not in (None, "0x0") else None,
        }
    )


def _share_access(d: D, out: D) -> None:  # 5140, 5145
    out["user"] = _subject(d)
    _remote(d, out)
    share = _s(d, "ShareName")
    rel = _s(d, "RelativeTargetName")
    path = f"{share}\\{rel}" if share and rel else share
    out["file"] = flat({"path": path, "name": basename(rel) if rel else None, "directory": share if rel else None})


_WFP_DIRECTION = {"%%14592": "ingress", "%%14593": "egress", "Inbound": "ingress", "Outbound": "egress"}
_IANA = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp"}


def _wfp(d: D, out: D) -> None:  # 5156, 5158
    app = _s(d, "Application")
    out["process"] = flat({"pid": _i(d, "ProcessID") or _i(d, "ProcessId"), "executable": app, "name": basename(app)})
    out["source"] = flat({"ip": soft_ip(d.get("SourceAddress")), "port": soft_port(d.get("SourcePort"))})
    out["destination"] = flat({"ip": soft_ip(d.get("DestAddress")), "port": soft_port(d.get("DestPort"))})
    proto = _s(d, "Protocol")
    out["network"] = flat(
        {"transport": _IANA.get(proto or "", proto), "direction": _WFP_DIRECTION.get(_s(d, "Direction") or "")}
    )


def _log_cleared(d: D, out: D) -> None:  # 1102 (Security), 104 (System)
    out["user"] = _subject(d) or user_of(None, None, out.pop("_sid", None))


# ---------------------------------------------------------------- PowerShell


def _context_pairs(text: str | None, sep: str) -> D:
    """``Key = Value`` lines (4103 ContextInfo) or ``\\tKey=Value`` lines (400/800 data)."""
    pairs: D = {}
    if not text:
        return pairs
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found:
            pairs[key.strip()] = value.strip()
    return pairs


def _ps_module(d: D, out: D) -> None:  # 4103
    ctx = _context_pairs(_s(d, "ContextInfo"), " = ")
    host_app = ctx.get("Host Application") or None
    out["process"] = flat({"command_line": host_app, "name": basename((host_app or "").split(" ", 1)[0])})
    out["user"] = user_of(ctx.get("User") or None) or user_of(None, None, out.pop("_sid", None))


def _ps_script(d: D, out: D) -> None:  # 4104
    out["user"] = user_of(None, None, out.pop("_sid", None))
    path = _s(d, "Path")
    if path:
        out["file"] = _file(path)


def _ps_classic(d: D, out: D) -> None:  # 400, 403, 600, 800: context lines live in the unnamed Data
    text = _s(d, "Data") or _s(d, "Message")
    ctx = _context_pairs(text, "=")
    host_app = ctx.get("HostApplication") or None
    out["process"] = flat({"command_line": host_app, "name": basename((host_app or "").split(" ", 1)[0])})
    out["user"] = user_of(ctx.get("UserId") or None)


# ---------------------------------------------------------------- Defender

def _defender_path(value: str | None) -> str | None:
    """``file:_C:\\dir\\x.exe`` (and ``; `` separated lists of such) to the first plain path."""
    if not value:
        return None
    first = value.split("; ", 1)[0]
    kind, sep, rest = first.partition(":_")
    return rest if sep and kind.isalpha() and len(kind) <= 20 else first


def _defender_threat(d: D, out: D) -> None:  # 1006, 1007, 1015, 1116..1119: malware found / acted on
    out["rule"] = flat(
        {
            "id": _s(d, "ThreatID"),
            "name": _s(d, "ThreatName"),
            "category": _s(d, "CategoryName"),
            "ruleset": "defender",
        }
    )
    out["user"] = user_of(_s(d, "DetectionUser")) or user_of(None, None, out.pop("_sid", None))
    image = _s(d, "ProcessName")
    if image and image != "Unknown":
        out["process"] = flat({"executable": image, "name": basename(image)})
    out["file"] = _file(_defender_path(_s(d, "Path")))


def _defender_asr(d: D, out: D) -> None:  # 1121 blocked, 1122 audited: an attack surface reduction rule
    out["rule"] = flat({"id": _s(d, "ID"), "ruleset": "defender-asr"})
    out["user"] = user_of(_s(d, "User")) or user_of(None, None, out.pop("_sid", None))
    image = _s(d, "ProcessName")
    out["process"] = flat({"executable": image, "name": basename(image), "command_line": _s(d, "TargetCommandline")})
    out["file"] = _file(_s(d, "Path"))


# ---------------------------------------------------------------- generic


def _generic(d: D, out: D) -> None:
    """Common fields any Windows event may carry, for events without a specific mapping."""
    user = _subject(d) or _target(d) or user_of(_s(d, "User") or _s(d, "AccountName"))
    out["user"] = user or user_of(None, None, out.pop("_sid", None))
    image = _s(d, "Image") or _s(d, "ProcessName") or _s(d, "NewProcessName")
    if image:
        out["process"] = flat(
            {
                "pid": _i(d, "ProcessId") or _i(d, "ProcessID"),
                "entity_id": _s(d, "ProcessGuid"),
                "executable": image,
                "name": basename(image),
                "command_line": _s(d, "CommandLine"),
            }
        )
    ip = soft_ip(d.get("IpAddress")) or soft_ip(d.get("SourceAddress")) or soft_ip(d.get("SourceIp"))
    if ip:
        out["source"] = {"ip": ip, "port": soft_port(d.get("IpPort") or d.get("SourcePort"))}
    dest = soft_ip(d.get("DestAddress")) or soft_ip(d.get("DestinationIp"))
    if dest:
        out["destination"] = {"ip": dest, "port": soft_port(d.get("DestPort") or d.get("DestinationPort"))}
    target_file = _s(d, "TargetFilename")
    if target_file:
        out["file"] = _file(target_file)


# ---------------------------------------------------------------- the table

Handler = Callable[[D, D], None]
# (category, type, action, outcome, handler)
Spec = tuple[list[str], list[str], str, str | None, Handler]

SYSMON: dict[int, Spec] = {
    1: (["process"], ["start"], "process-created", None, _sysmon_1),
    2: (["file"], ["change"], "file-creation-time-changed", None, _sysmon_file),
    3: (["network"], ["connection", "start"], "network-connection", None, _sysmon_3),
    5: (["process"], ["end"], "process-terminated", None, _sysmon_process_only),
    6: (["driver"], ["start"], "driver-loaded", None, _sysmon_image_file),
    7: (["process", "library"], ["start"], "image-loaded", None, _sysmon_image_file),
    8: (["process"], ["change"], "remote-thread-created", None, _sysmon_access),
    10: (["process"], ["access"], "process-accessed", None, _sysmon_access),
    11: (["file"], ["creation"], "file-created", None, _sysmon_file),
    12: (["registry"], ["change"], "registry-key-created-or-deleted", None, _sysmon_registry),
    13: (["registry"], ["change"], "registry-value-set", None, _sysmon_registry),
    14: (["registry"], ["change"], "registry-renamed", None, _sysmon_registry),
    15: (["file"], ["creation"], "file-stream-created", None, _sysmon_file),
    17: (["file"], ["creation"], "pipe-created", None, _sysmon_pipe),
    18: (["file"], ["access"], "pipe-connected", None, _sysmon_pipe),
    22: (["network"], ["protocol", "info"], "dns-query", None, _sysmon_dns),
    23: (["file"], ["deletion"], "file-deleted", None, _sysmon_file),
    25: (["process"], ["change"], "process-tampering", None, _sysmon_process_only),
    26: (["file"], ["deletion"], "file-delete-detected", None, _sysmon_file),
}

SECURITY: dict[int, Spec] = {
    4624: (["authentication"], ["start"], "logged-in", "success", _logon),
    4625: (["authentication"], ["start"], "logon-failed", "failure", _logon),
    4634: (["authentication"], ["end"], "logged-out", "success", _logoff),
    4648: (["authentication"], ["start"], "logged-in-explicit", "success", _explicit_logon),
    4661: (["iam"], ["access"], "object-handle-requested", None, _subject_only),
    4662: (["iam"], ["access"], "object-operation-performed", None, _subject_only),
    4672: (["iam"], ["admin"], "logged-in-special", "success", _special_privileges),
    4688: (["process"], ["start"], "process-created", "success", _process_create),
    4697: (["configuration"], ["creation"], "service-installed", "success", _service_install),
    4698: (["configuration"], ["creation"], "scheduled-task-created", "success", _subject_only),
    4702: (["configuration"], ["change"], "scheduled-task-updated", "success", _subject_only),
    4719: (["configuration"], ["change"], "audit-policy-changed", "success", _subject_only),
    4720: (["iam"], ["user", "creation"], "user-account-created", "success", _account_change),
    4722: (["iam"], ["user", "change"], "user-account-enabled", "success", _account_change),
    4724: (["iam"], ["user", "change"], "password-reset-attempted", None, _account_change),
    4728: (["iam"], ["group", "change"], "added-member-to-global-group", "success", _group_change),
    4732: (["iam"], ["group", "change"], "added-member-to-local-group", "success", _group_change),
    4738: (["iam"], ["user", "change"], "user-account-changed", "success", _account_change),
    4756: (["iam"], ["group", "change"], "added-member-to-universal-group", "success", _group_change),
    4768: (["authentication"], ["start"], "kerberos-tgt-requested", None, _kerberos),
    4769: (["authentication"], ["start"], "kerberos-service-ticket-requested", None, _kerberos),
    4771: (["authentication"], ["start"], "kerberos-preauth-failed", "failure", _kerberos),
    4776: (["authentication"], ["start"], "credential-validated", None, _ntlm_validate),
    5136: (["iam"], ["change"], "directory-object-modified", "success", _subject_only),
    5140: (["network", "file"], ["access"], "network-share-accessed", "success", _share_access),
    5145: (["network", "file"], ["access"], "network-share-object-checked", None, _share_access),
    5156: (["network"], ["connection", "allowed"], "network-connection-allowed", "success", _wfp),
    5158: (["network"], ["allowed"], "network-bind-allowed", "success", _wfp),
    1102: (["configuration"], ["deletion"], "audit-log-cleared", "success", _log_cleared),
}

POWERSHELL: dict[int, Spec] = {
    4103: (["process"], ["info"], "powershell-module-logged", None, _ps_module),
    4104: (["process"], ["info"], "powershell-script-block-logged", None, _ps_script),
    400: (["process"], ["start"], "powershell-engine-started", None, _ps_classic),
    403: (["process"], ["end"], "powershell-engine-stopped", None, _ps_classic),
    600: (["process"], ["info"], "powershell-provider-started", None, _ps_classic),
    800: (["process"], ["info"], "powershell-pipeline-executed", None, _ps_classic),
}

SYSTEM: dict[int, Spec] = {
    7045: (["configuration"], ["creation"], "service-installed", "success", _service_install),
    7036: (["configuration"], ["change"], "service-state-changed", None, _service_state),
    104: (["configuration"], ["deletion"], "event-log-cleared", "success", _log_cleared),
}

DEFENDER: dict[int, Spec] = {
    1006: (["malware"], ["info"], "malware-detected", None, _defender_threat),
    1007: (["malware"], ["info"], "malware-action-taken", None, _defender_threat),
    1015: (["malware"], ["info"], "suspicious-behavior-detected", None, _defender_threat),
    1116: (["malware"], ["info"], "malware-detected", None, _defender_threat),
    1117: (["malware"], ["info"], "malware-action-taken", "success", _defender_threat),
    1118: (["malware"], ["info"], "malware-action-failed", "failure", _defender_threat),
    1119: (["malware"], ["info"], "malware-action-failed-critically", "failure", _defender_threat),
    1121: (["intrusion_detection"], ["denied"], "asr-rule-blocked", None, _defender_asr),
    1122: (["intrusion_detection"], ["allowed"], "asr-rule-audited", None, _defender_asr),
}

TABLES: dict[str, dict[int, Spec]] = {
    "sysmon": SYSMON,
    "security": SECURITY,
    "powershell": POWERSHELL,
    "system": SYSTEM,
    "defender": DEFENDER,
}
# Families whose manifests name every field without spaces: their records skip the spaced-name check.
_UNSPACED = frozenset({"sysmon", "security"})


def mapped(fam: str, event_id: int) -> bool:
    return event_id in TABLES.get(fam, {})


def to_draft(rec: WinRecord, *, raw_sha256: str, origin: Origin) -> D:
    """The event draft for one Windows record (validated later by :func:`udfs.normalize.draft.finish`)."""
    fam = family(rec.channel, rec.provider)
    tidy(rec.data, rec.original, spaced_names=fam not in _UNSPACED)
    spec = TABLES.get(fam, {}).get(rec.event_id)
    linux = (rec.provider or "").lower() == "linux-sysmon" or (rec.channel or "").lower().startswith("linux-")
    out: D = {
        "timestamp_ms": rec.time_ms,
        "source_format": rec.fmt,
        "parser_version": rec.parser_version,
        "raw_sha256": raw_sha256,
        "id": _record_key(rec),
        "event": {
            "code": str(rec.event_id),
            "provider": rec.provider,
            "module": fam if fam != "other" else "windows",
            "dataset": rec.channel,
            "category": spec[0] if spec else [],
            "type": spec[1] if spec else ["info"],
            "action": spec[2] if spec else None,
            "outcome": spec[3] if spec else None,
        },
        "host": {
            "name": rec.computer,
            "hostname": _short_name(rec.computer),
            "os": {"family": "linux" if linux else "windows"},
        },
        "origin": origin,
        "original": rec.original,
        "_sid": rec.user_sid,  # consumed by handlers that fall back to System/Security/UserID
    }
    (spec[4] if spec else _generic)(rec.data, out)
    sid = out.pop("_sid", None)
    if out.get("user") is None and sid:
        out["user"] = user_of(None, None, sid)
    if "user" in out and out["user"] is None:
        del out["user"]
    return out


def _short_name(computer: str | None) -> str | None:
    if not computer or computer[0].isdigit() or ":" in computer:  # an address, not a DNS name
        return computer
    return computer.split(".", 1)[0]


def _record_key(rec: WinRecord) -> str | None:
    if rec.record_id is None:
        return None
    return f"{rec.computer or '-'}/{rec.channel or rec.provider or '-'}/{rec.record_id}"
