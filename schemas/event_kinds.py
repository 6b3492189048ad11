"""Event kinds: short names for what an event records, for rules that apply to some kinds only.

A kind is ``<category>_<type>`` over the event model's ECS ``event.category`` and ``event.type``
(``process_start``, ``network_connection``, ``registry_change``, ``authentication_start``, ...): an
event has the kind when both lists name them. Two names stand apart:

- ``any``: every event;
- ``unclassified``: an event whose source says nothing of what it records (no category, no type):
  the plain JSON form that home-grown sensors and EDR exports use. Records a normalizer knows but
  cannot classify carry type ``info`` and are not unclassified.

``process_start`` means a new process: Sysmon 1, Security 4688, auditd ``execve``, Sysmon for Linux
1. Two events the normalizers file under process/start are not: an image load (Sysmon 7, category
``library`` as well, whose process is the one loading) and the PowerShell engine starting inside
a host process (PowerShell 400, whose process is the host).
"""

from __future__ import annotations

# ECS 8.x allowed values (https://www.elastic.co/guide/en/ecs/current/ecs-allowed-values-event-category.html).
CATEGORIES = (
    "api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
    "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session",
    "threat", "vulnerability", "web",
)
TYPES = (
    "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "device", "end",
    "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
)
ANY = "any"
UNCLASSIFIED = "unclassified"
PROCESS_START = "process_start"
# event.action values filed under process/start that record no new process (see the module doc).
NOT_PROCESS_CREATION = frozenset({"powershell-engine-started"})


def split_kind(name: str) -> tuple[str, str] | None:
    """``process_start`` -> (process, start); None for ``any`` / ``unclassified``. ValueError if unknown."""
    if name in (ANY, UNCLASSIFIED):
        return None
    category, _, type_ = name.rpartition("_")
    if category not in CATEGORIES or type_ not in TYPES:
        raise ValueError(
            f"unknown event kind {name!r}: expected any, unclassified or <category>_<type> with an ECS "
            f"category ({', '.join(CATEGORIES)}) and type ({', '.join(TYPES)}), e.g. process_start"
        )
    return category, type_


def check_kinds(names: list[str]) -> list[str]:
    """Validated, lower-cased, without duplicates; at least one."""
    out = list(dict.fromkeys(n.strip().lower() for n in names))
    if not out:
        raise ValueError("name at least one event kind, e.g. [process_start] (or [any])")
    for name in out:
        split_kind(name)
    return out
