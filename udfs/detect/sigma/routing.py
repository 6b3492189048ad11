"""Logsource routing: which Sigma log sources an event belongs to, and which field pipeline reads it.

A Sigma rule names a log source (product / category / service). An event is described here by one
product, a set of categories and a set of services; a rule applies when each attribute it sets is
among the event's. The tables below are plain data, meant to be edited as normalizers are added:

- ``WINDOWS_CHANNELS``: Windows event log channel -> Sigma service (as pySigma's Windows pipeline).
- ``SYSMON_EVENTS``, ``CHANNEL_EVENTS``: (channel, EventID) -> Sigma categories (Sysmon, PowerShell,
  Security 4688 read as process_creation through the ``windows_audit`` renames).
- ``FORMATS``: non-Windows ``source_format`` -> product, services, categories and field pipeline,
  with ``discriminator`` naming the field that picks the service (Zeek's log type, Azure's category).

``route_key(event)`` is the hot-path part: a few dict lookups giving a hashable key; the engine
caches ``describe(key)`` per key, so the tables are read once per kind of event, not per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from udfs.detect.sigma.fields import Pipeline
from udfs.detect.sigma.ir import LogSource

# --- Windows ----------------------------------------------------------------------------------------

SYSMON_CHANNEL = "microsoft-windows-sysmon/operational"
LINUX_SYSMON_CHANNEL = "linux-sysmon/operational"

WINDOWS_CHANNELS: dict[str, str] = {
    "security": "security",
    "system": "system",
    "application": "application",
    SYSMON_CHANNEL: "sysmon",
    "microsoft-windows-powershell/operational": "powershell",
    "powershellcore/operational": "powershell",
    "windows powershell": "powershell-classic",
    "microsoft-windows-taskscheduler/operational": "taskscheduler",
    "microsoft-windows-wmi-activity/operational": "wmi",
    "dns server": "dns-server",
    "microsoft-windows-dns-server/analytical": "dns-server-analytic",
    "microsoft-windows-dns client events/operational": "dns-client",
    "microsoft-windows-driverframeworks-usermode/operational": "driver-framework",
    "microsoft-windows-ntlm/operational": "ntlm",
    "microsoft-windows-dhcp-server/operational": "dhcp",
    "msexchange management": "msexchange-management",
    "microsoft-windows-printservice/admin": "printservice-admin",
    "microsoft-windows-printservice/operational": "printservice-operational",
    "microsoft-windows-codeintegrity/operational": "codeintegrity-operational",
    "microsoft-windows-smbclient/security": "smbclient-security",
    "microsoft-windows-smbclient/connectivity": "smbclient-connectivity",
    "microsoft-windows-smbserver/connectivity": "smbserver-connectivity",
    "microsoft-windows-applocker/msi and script": "applocker",
    "microsoft-windows-applocker/exe and dll": "applocker",
    "microsoft-windows-applocker/packaged app-deployment": "applocker",
    "microsoft-windows-applocker/packaged app-execution": "applocker",
    "microsoft-windows-windows firewall with advanced security/firewall": "firewall-as",
    "microsoft-windows-bits-client/operational": "bits-client",
    "microsoft-windows-windows defender/operational": "windefend",
    "microsoft-windows-terminalservices-localsessionmanager/operational": "terminalservices-localsessionmanager",
    "microsoft-servicebus-client": "microsoft-servicebus-client",
    "microsoft-windows-ldap-client/debug": "ldap",
    "microsoft-windows-appxdeploymentserver/operational": "appxdeployment-server",
    "microsoft-windows-appxpackaging/operational": "appxpackaging-om",
    "microsoft-windows-appmodel-runtime/admin": "appmodel-runtime",
    "microsoft-windows-capi2/operational": "capi2",
    "microsoft-windows-certificateservicesclient-lifecycle-system/operational": (
        "certificateservicesclient-lifecycle-system"
    ),
    "microsoft-windows-diagnosis-scripted/operational": "diagnosis-scripted",
    "microsoft-windows-lsa/operational": "lsa-server",
    "openssh/operational": "openssh",
    "microsoft-windows-security-mitigations/kernel mode": "security-mitigations",
    "microsoft-windows-security-mitigations/user mode": "security-mitigations",
    "microsoft-windows-shell-core/operational": "shell-core",
    "microsoft-iis-configuration/operational": "iis-configuration",
    "microsoft-windows-kernel-shimengine/operational": "kernel-shimengine",
    "microsoft-windows-ntfs/operational": "ntfs",
    "microsoft-windows-hyper-v-worker-admin": "hyper-v-worker",
    "microsoft-windows-vhdmp-operational": "vhdmp",
}

SYSMON_EVENTS: dict[int, tuple[str, ...]] = {
    1: ("process_creation",),
    2: ("file_change",),
    3: ("network_connection",),
    4: ("sysmon_status",),
    5: ("process_termination",),
    6: ("driver_load",),
    7: ("image_load",),
    8: ("create_remote_thread",),
    9: ("raw_access_thread",),
    10: ("process_access",),
    11: ("file_event",),
    12: ("registry_event",),  # plus registry_add / registry_delete by EventType, below
    13: ("registry_event", "registry_set"),
    14: ("registry_event", "registry_rename"),
    15: ("create_stream_hash",),
    16: ("sysmon_status",),
    17: ("pipe_created",),
    18: ("pipe_created",),
    19: ("wmi_event",),
    20: ("wmi_event",),
    21: ("wmi_event",),
    22: ("dns_query",),
    23: ("file_delete",),
    24: ("clipboard_capture",),
    25: ("process_tampering",),
    26: ("file_delete_detected",),
    27: ("file_block_executable",),
    28: ("file_block_shredding",),
    29: ("file_executable_detected",),
    255: ("sysmon_error",),
}
SYSMON_REGISTRY_12 = {"createkey": "registry_add", "deletekey": "registry_delete", "deletevalue": "registry_delete"}

# (channel, EventID) -> categories and the field pipeline for them, for non-Sysmon channels.
CHANNEL_EVENTS: dict[tuple[str, int], tuple[tuple[str, ...], str]] = {
    ("microsoft-windows-powershell/operational", 4103): (("ps_module",), "windows"),
    ("microsoft-windows-powershell/operational", 4104): (("ps_script",), "windows"),
    ("powershellcore/operational", 4103): (("ps_module",), "windows"),
    ("powershellcore/operational", 4104): (("ps_script",), "windows"),
    ("windows powershell", 400): (("ps_classic_start",), "windows"),
    ("windows powershell", 600): (("ps_classic_provider_start",), "windows"),
    ("windows powershell", 800): (("ps_classic_script",), "windows"),
    ("security", 4688): (("process_creation",), "windows_audit"),
}

# --- pipelines ----------------------------------------------------------------------------------------

_LINUX_PROCESS = {
    "Image": ("ecs:process.executable",),
    "CommandLine": ("ecs:process.command_line",),
    "ParentImage": ("ecs:process.parent.executable",),
    "ParentCommandLine": ("ecs:process.parent.command_line",),
    "ProcessId": ("ecs:process.pid",),
    "ParentProcessId": ("ecs:process.parent.pid",),
    "CurrentDirectory": ("ecs:process.working_directory",),
    "User": ("ecs:user.name", "ecs:process.user"),
    "TargetFilename": ("ecs:file.path",),
    "DestinationIp": ("ecs:destination.ip",),
    "DestinationPort": ("ecs:destination.port",),
    "DestinationHostname": ("ecs:destination.domain",),
    "SourceIp": ("ecs:source.ip",),
    "SourcePort": ("ecs:source.port",),
    "QueryName": ("ecs:dns.question_name",),
}


def _pipelines() -> dict[str, Pipeline]:
    return {
        "windows": Pipeline("windows", flat=True),
        # Security 4688 as process_creation, as pySigma's windows-audit pipeline renames it.
        "windows_audit": Pipeline(
            "windows_audit",
            flat=True,
            renames={
                "Image": ("orig:NewProcessName",),
                "ParentImage": ("orig:ParentProcessName",),
                "LogonId": ("orig:SubjectLogonId",),
                "IntegrityLevel": ("orig:MandatoryLabel",),
            },
        ),
        "vendor": Pipeline("vendor"),  # vendor JSON as is (CloudTrail, Okta, GCP, GitHub, ...)
        "azure": Pipeline("azure", case_insensitive=True, prefixes=("properties",)),
        "zeek": Pipeline("zeek", flat=True),  # Zeek JSON is flat, dotted names included ("id.orig_h")
        # Zeek http/dns read by the generic proxy / dns rules (W3C-style field names).
        "zeek_proxy": Pipeline(
            "zeek_proxy",
            flat=True,
            renames={
                "c-uri": ("orig:uri",),
                "cs-uri": ("orig:uri",),
                "cs-uri-stem": ("orig:uri",),
                "c-useragent": ("orig:user_agent",),
                "cs-user-agent": ("orig:user_agent",),
                "cs-host": ("orig:host",),
                "cs-method": ("orig:method",),
                "sc-status": ("orig:status_code",),
                "cs-referrer": ("orig:referrer",),
                "dst_ip": ("orig:id.resp_h",),
                "c-ip": ("orig:id.orig_h",),
            },
        ),
        "zeek_dns": Pipeline(
            "zeek_dns",
            flat=True,
            renames={
                "record_type": ("orig:qtype_name",),
                "answer": ("orig:answers",),
            },
        ),
        # Linux/macOS events as ECS (auditd execve, Sysmon for Linux): Sysmon field names -> ECS.
        "ecs": Pipeline("ecs", renames=dict(_LINUX_PROCESS)),
        # auditd key=value records; SigmaHQ spells some keys upper-case (SYSCALL) and some lower.
        "auditd": Pipeline("auditd", case_insensitive=True, renames=dict(_LINUX_PROCESS)),
    }


# --- non-Windows formats ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatRoute:
    product: str | None
    pipeline: str = "vendor"
    services: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    discriminator: str | None = None  # "original:<key>" or "event:<dotted.path>"
    # discriminator value (lower-case) -> (services, categories, pipeline or None = keep)
    by_value: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = field(default_factory=dict)
    ecs_categories: bool = False  # also derive categories from ECS event.category/type


_AZURE = {
    "signinlogs": (("signinlogs",), (), None),
    "noninteractiveusersigninlogs": (("signinlogs",), (), None),
    "serviceprincipalsigninlogs": (("signinlogs",), (), None),
    "managedidentitysigninlogs": (("signinlogs",), (), None),
    "auditlogs": (("auditlogs",), (), None),
    "riskyusers": (("riskdetection",), (), None),
    "userriskevents": (("riskdetection",), (), None),
    "administrative": (("activitylogs",), (), None),
    "security": (("activitylogs",), (), None),
    "policy": (("activitylogs",), (), None),
    "serviceHealth".lower(): (("activitylogs",), (), None),
    "recommendation": (("activitylogs",), (), None),
    "alert": (("activitylogs",), (), None),
    "autoscale": (("activitylogs",), (), None),
}

FORMATS: dict[str, FormatRoute] = {
    "cloudtrail": FormatRoute("aws", services=("cloudtrail",)),
    "okta": FormatRoute("okta", services=("okta",)),
    "entra": FormatRoute("azure", pipeline="azure", discriminator="original:category", by_value=_AZURE),
    "entra_id": FormatRoute("azure", pipeline="azure", discriminator="original:category", by_value=_AZURE),
    "azure": FormatRoute("azure", pipeline="azure", discriminator="original:category", by_value=_AZURE),
    "zeek": FormatRoute(
        "zeek",
        pipeline="zeek",
        discriminator="event:event.dataset",
        by_value={
            "zeek.http": (("http",), ("proxy",), None),
            "zeek.dns": (("dns",), ("dns",), None),
        },
    ),
    "auditd": FormatRoute("linux", pipeline="auditd", services=("auditd",), ecs_categories=True),
    "auditd_json": FormatRoute("linux", pipeline="auditd", services=("auditd",), ecs_categories=True),
    "sysmon_linux": FormatRoute("linux", pipeline="ecs", ecs_categories=True),
    "suricata": FormatRoute("suricata", pipeline="vendor", ecs_categories=True),
    "plain_json": FormatRoute(None, pipeline="ecs", ecs_categories=True),
}
# Zeek log types whose generic-category rules read renamed fields.
_ZEEK_CATEGORY_PIPELINE = {"proxy": "zeek_proxy", "dns": "zeek_dns"}

# ECS event.category / event.type -> Sigma category, for sources that fill ECS but not Sysmon names.
ECS_CATEGORIES: list[tuple[str, str | None, str]] = [
    ("process", "start", "process_creation"),
    ("network", "connection", "network_connection"),
    ("file", "creation", "file_event"),
    ("file", "change", "file_change"),
    ("file", "deletion", "file_delete"),
    ("dns", None, "dns"),
]


@dataclass(frozen=True)
class EventSource:
    """An event in Sigma's terms: what rules apply to it and how its fields are read."""

    product: str | None
    categories: frozenset[str]
    services: frozenset[str]
    pipeline: str

    def accepts(self, logsource: LogSource) -> bool:
        return (
            (logsource.product is None or logsource.product == self.product)
            and (logsource.category is None or logsource.category in self.categories)
            and (logsource.service is None or logsource.service in self.services)
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def route_key(event: dict[str, Any]) -> tuple[Any, ...]:
    """A cheap, hashable summary of what decides an event's route. Called once per event."""
    orig = event.get("original")
    if orig:
        channel = orig.get("Channel")
        if channel is not None:
            # The record's own channel: a UserData field of the same name (event 104, LogFileCleared)
            # names the log that was cleared, not the one that logged it.
            channel = (event.get("event") or {}).get("dataset") or channel
            eid = orig.get("EventID")
            if eid == 12 or eid == "12":
                return ("win", channel, eid, orig.get("EventType"))
            return ("win", channel, eid)
    fmt = event.get("source_format")
    spec = FORMATS.get(fmt)  # type: ignore[arg-type]
    if spec is None or (spec.discriminator is None and not spec.ecs_categories):
        return ("fmt", fmt)
    disc = _discriminator(event, orig or {}, spec.discriminator) if spec.discriminator else None
    if spec.ecs_categories:
        meta = event.get("event") or {}
        return ("fmt", fmt, disc, tuple(meta.get("category") or ()), tuple(meta.get("type") or ()))
    return ("fmt", fmt, disc)


def _discriminator(event: dict[str, Any], orig: dict[str, Any], spec: str) -> Any:
    where, _, path = spec.partition(":")
    node: Any = orig if where == "original" else event
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def describe(key: tuple[Any, ...]) -> list[EventSource]:
    """The Sigma log sources of a route key. Several when one event feeds rules with different pipelines."""
    if key[0] == "win":
        return _describe_windows(key)
    return _describe_format(key)


def _describe_windows(key: tuple[Any, ...]) -> list[EventSource]:
    channel = str(key[1]).lower()
    eid = _int(key[2])
    product = "linux" if channel == LINUX_SYSMON_CHANNEL else "windows"
    service = WINDOWS_CHANNELS.get(channel)
    services = frozenset([service] if service else [])
    sources = [EventSource(product, frozenset(), services, "windows")]
    if channel in (SYSMON_CHANNEL, LINUX_SYSMON_CHANNEL) and eid is not None:
        cats = set(SYSMON_EVENTS.get(eid, ()))
        if eid == 12 and len(key) > 3 and key[3]:
            extra = SYSMON_REGISTRY_12.get(str(key[3]).lower())
            if extra:
                cats.add(extra)
        sources = [EventSource(product, frozenset(cats), services, "windows")]
    elif eid is not None and (channel, eid) in CHANNEL_EVENTS:
        cats, pipeline = CHANNEL_EVENTS[(channel, eid)]
        if pipeline == "windows":
            sources = [EventSource(product, frozenset(cats), services, "windows")]
        else:
            # Same event, two readings: service rules on the raw fields, category rules renamed.
            sources.append(EventSource(product, frozenset(cats), frozenset(), pipeline))
    return sources


def _describe_format(key: tuple[Any, ...]) -> list[EventSource]:
    fmt = key[1]
    spec = FORMATS.get(fmt)
    if spec is None:
        return [EventSource(None, frozenset(), frozenset(), "ecs")]
    services = set(spec.services)
    categories = set(spec.categories)
    pipeline = spec.pipeline
    disc = key[2] if len(key) > 2 else None
    if disc is not None:
        text = str(disc).lower()
        if fmt == "zeek":
            services.add(text.removeprefix("zeek."))
        extra = spec.by_value.get(text)
        if extra:
            services.update(extra[0])
            categories.update(extra[1])
            pipeline = extra[2] or pipeline
    if spec.ecs_categories and len(key) > 4:
        ecs_cats, ecs_types = set(key[3]), set(key[4])
        for cat, typ, sigma_cat in ECS_CATEGORIES:
            if cat in ecs_cats and (typ is None or typ in ecs_types):
                categories.add(sigma_cat)
    product = spec.product
    base = EventSource(product, frozenset(categories - set(_ZEEK_CATEGORY_PIPELINE)), frozenset(services), pipeline)
    sources = [base]
    if fmt == "zeek":
        for cat, pipe in _ZEEK_CATEGORY_PIPELINE.items():
            if cat in categories:
                # Generic-category rules carry no product: they must not see Zeek's own service rules.
                sources.append(EventSource(None, frozenset([cat]), frozenset(), pipe))
    return sources


def known_keys(zeek_services: Iterable[str] = ()) -> list[tuple[Any, ...]]:
    """Route keys covering every log source the tables above describe, so that an engine can build
    each lane when its rules load instead of on the first event of a kind. ``zeek_services``: Zeek
    log types the rules name (any log type is a service; the table lists only those with generic
    categories). A key not listed here still routes: its lanes are built on first use."""
    keys: list[tuple[Any, ...]] = []
    for channel in [*WINDOWS_CHANNELS, LINUX_SYSMON_CHANNEL]:
        keys.append(("win", channel, 0))  # an event id without a category of its own
        if channel in (SYSMON_CHANNEL, LINUX_SYSMON_CHANNEL):
            keys.extend(("win", channel, eid) for eid in SYSMON_EVENTS if eid != 12)
            keys.extend(("win", channel, 12, kind) for kind in [None, *SYSMON_REGISTRY_12])
    keys.extend(("win", channel, eid) for channel, eid in CHANNEL_EVENTS)
    keys.append(("win", "", 0))  # a channel the table does not know: the product-wide rules
    ecs = [((), ())] + [((cat,), (typ,) if typ else ()) for cat, typ, _ in ECS_CATEGORIES]
    for fmt, spec in FORMATS.items():
        discs: list[Any] = [None]
        if spec.discriminator:
            discs.extend(spec.by_value)
        if fmt == "zeek":
            discs.extend(f"zeek.{service}" for service in zeek_services)
        for disc in dict.fromkeys(discs):
            if spec.ecs_categories:
                keys.extend(("fmt", fmt, disc, cats, types) for cats, types in ecs)
            elif spec.discriminator:
                keys.append(("fmt", fmt, disc))
            else:
                keys.append(("fmt", fmt))
    keys.append(("fmt", None))  # a format without a route: the ECS pipeline
    return keys


PIPELINES: dict[str, Pipeline] = _pipelines()


def pipeline(name: str) -> Pipeline:
    return PIPELINES[name]


RouteKeyFn = Callable[[dict[str, Any]], tuple[Any, ...]]
