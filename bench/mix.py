"""A realistic event mix for the throughput benchmark: the real vendor samples, re-hosted.

    .venv/bin/python bench/mix.py [--events 100000] [--hosts 2000] [--seed 1] [--write PATH]

Every event is a record from ``../shared/samples`` (Windows EVTX-JSON, flat NXLog JSON, Winlogbeat,
Zeek, Suricata, Okta, Entra ID, CloudTrail, auditd; each folder's SOURCES.md says where it comes
from), chosen only among records the project's own normalizer parses, then re-hosted:

- hosts: ``--hosts`` machines (``ws-00042.corp.example``, every 7th a Linux ``srv-…``), each with
  one fixed address (``10.20.0.43``). A record's own host (Computer, host.name, auditd ``node=``)
  becomes one of them; every address the samples bind to that host becomes its address, an address
  the samples bind to another name (a logon's IpAddress + WorkstationName) becomes another host's
  address *and* name, and any other internal (RFC 1918 / ULA) address becomes some host's address.
  Public addresses stay. So whatever binding fact the stream teaches (Sysmon network events,
  Windows logons, host.ip) is the one true host <-> address pair. Pool building re-hosts every
  sample record once and drops those whose facts would contradict the host table.
- time: every timestamp in a record moves by the same amount, so that the record's event time is
  ``t0 + i / rate`` plus a jitter in [0, jitter) (default 5 s, well within the job's 60 s
  out-of-orderness); record ids (EventRecordID, Zeek uid, CloudTrail eventID, ...) are renumbered
  so that no two events have the same bytes.
- the share of technique hits is set by drawing from the records that hit (measured with the
  project's detector) with probability ``hit_share`` (default tuned to land near 15% of events),
  and among the other Windows records, from those carrying binding facts so that about 20% of the
  events carry one.
- planted sequences (one per ``planted_every`` events, alternating):
  ``ttpflow-seq-injection-then-c2``: a Sysmon network event binding host A's address, a T1055 hit on A
  (a real Sysmon record the bundled rules flag as injection, or a real Sysmon 8 record with its
  images set to rundll32 -> explorer) and, 30 s to 5 min later, a T1071 hit from a Zeek http / Zeek
  dns / Suricata alert record whose source address is A's;
  ``ttpflow-seq-credential-dump-then-lateral``: a T1003 hit (mimikatz / procdump process) then a
  T1569 / T1021 hit (PsExec) on host B.

Deterministic for a seed (the samples being the same). Pure Python: no PyFlink.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import copy
import functools
import ipaddress
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.event import Origin  # noqa: E402
from udfs.link.canonical import bindable_ip, canonical_host  # noqa: E402
from udfs.link.facts import binding_facts, own_host  # noqa: E402
from udfs.normalize.files import iter_records  # noqa: E402
from udfs.normalize.normalizer import Normalizer  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples"
T0 = 1_714_557_600_000  # 2024-05-01T10:00:00Z
DOMAIN = "corp.example"
INJECTION_RULE = "ttpflow-seq-injection-then-c2"
LATERAL_RULE = "ttpflow-seq-credential-dump-then-lateral"
SEQUENCE_RULES = (INJECTION_RULE, LATERAL_RULE)
RULE_WITHIN_MS = {INJECTION_RULE: 15 * 60_000, LATERAL_RULE: 30 * 60_000}  # rules/sequences/*.yaml

# Share of events per source (the non-hit draws); a SOC feed is mostly endpoint, then network.
FAMILY_WEIGHTS = {
    "windows_evtx_json": 0.25,
    "windows_flat_json": 0.22,
    "winlogbeat": 0.05,
    "zeek": 0.29,
    "suricata": 0.03,
    "auditd": 0.10,
    "cloudtrail": 0.03,
    "entra_id": 0.02,
    "okta": 0.01,
}
WINDOWS_FAMILIES = frozenset({"windows_evtx_json", "windows_flat_json", "winlogbeat"})
# Tuned (bench/mix.py prints the measured shares): ~15% of events hit, ~20% carry a binding fact.
HIT_SHARE = 0.15
WINDOWS_FACT_SHARE = 0.40

NOT_TELEMETRY = (".md", ".txt", ".csv")
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)([T ])(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?$")
_AUDIT_HEAD = re.compile(r"msg=audit\((\d+)(?:\.(\d+))?:(\d+)\)")
_AUDIT_NODE = re.compile(r"^node=\S+\s+")
_IPV4_TOKEN = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_INTERNAL = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
# Record ids renumbered per event (key -> kind of value); everything else keeps its value.
_ID_KEYS = {
    "EventRecordID": "int",
    "RecordNumber": "int",
    "record_id": "int",
    "uid": "zeek",
    "flow_id": "int",
    "uuid": "uuid",
    "eventID": "uuid",
}
_MISSING_ID = {"cloudtrail": "eventID", "okta": "uuid", "zeek": "uid"}
_EPOCH_KEYS = frozenset({"ts", "_write_ts"})


# -- hosts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    index: int
    short: str
    ip: str
    kind: str  # "windows" | "linux"

    @property
    def fqdn(self) -> str:
        return f"{self.short}.{DOMAIN}"


def host_table(hosts: int) -> list[Host]:
    """Host i: a fixed name and a fixed address (10.20.0.1, 10.20.0.2, ...; 250 per /24)."""
    out = []
    for i in range(hosts):
        linux = i % 7 == 6
        ip = f"10.{20 + i // 62_500}.{(i // 250) % 250}.{i % 250 + 1}"
        out.append(Host(i, f"{'srv' if linux else 'ws'}-{i:05d}", ip, "linux" if linux else "windows"))
    return out


def is_internal(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _INTERNAL if net.version == addr.version)


# -- templates ---------------------------------------------------------------------------------------


@dataclass
class Template:
    """One sample record, ready to be re-hosted."""

    file: str
    line: int
    family: str  # the source format the normalizer detected
    doc: dict[str, Any] | None  # JSON records
    text: str | None  # text records (auditd)
    ts_ms: int
    own: str | None  # canonical own host of the original record
    names: dict[str, str]  # every spelling (lower case) of a bound name in the record -> canonical name
    ips: dict[str, str | None]  # address value as written -> canonical bound name (or None: unbound)
    techniques: tuple[str, ...] = ()
    facts: bool = False
    ip_facts: bool = False
    role: str = ""  # planted-step role, when made for one


@dataclass
class Pools:
    hits: list[Template] = field(default_factory=list)
    plain: dict[str, list[Template]] = field(default_factory=dict)  # family -> non-hit, no facts
    facts: dict[str, list[Template]] = field(default_factory=dict)  # family -> non-hit, with facts
    binders: list[Template] = field(default_factory=list)  # Windows records binding their host's address
    steps: dict[str, list[Template]] = field(default_factory=dict)  # role -> templates
    dropped: Counter = field(default_factory=Counter)


def _walk_strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_strings(value)


def _canonical_ip(value: str) -> str | None:
    if len(value) > 45 or not value or not (value[0].isdigit() or value[0] in ":abcdefABCDEF"):
        return None
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    return bindable_ip(value)


def _file_bindings(events: list[dict[str, Any]]) -> dict[str, str]:
    """ip -> host name, as the file's own events bind them (most frequent name per address)."""
    votes: dict[str, Counter] = {}
    for event in events:
        for f in binding_facts(event):
            if f["subject"].startswith("ip:") and f["value"]:
                votes.setdefault(f["subject"][3:], Counter())[f["value"]] += 1
    return {ip: c.most_common(1)[0][0] for ip, c in votes.items()}


def _make_template(path: Path, line: int, payload: bytes, event: dict[str, Any], bound: dict[str, str]) -> Template:
    fmt = event["source_format"]
    own = own_host(event)
    text = doc = None
    if payload.lstrip()[:1] == b"{":
        doc = orjson.loads(payload)
        strings = list(_walk_strings(doc))
    else:
        text = payload.decode("utf-8")
        strings = _IPV4_TOKEN.findall(text)
    ips: dict[str, str | None] = {}
    for value in strings:
        ip = _canonical_ip(value)
        if ip is not None and value not in ips:
            ips[value] = bound.get(ip)
    names = {}
    wanted = {n for n in ips.values() if n} | ({own} if own else set())
    if wanted:
        for value in strings:
            low = value.lower()
            key = low[:-1] if low.endswith("$") else low
            name = canonical_host(key) if not _canonical_ip(key) else None
            if name in wanted and (key == name or key.startswith(name + ".")):
                names[key] = name
    return Template(str(path), line, fmt, doc, text, event["timestamp_ms"], own, names, ips)


# -- re-hosting ---------------------------------------------------------------------------------------


def shift_iso(value: str, delta_ms: int) -> str | None:
    m = _ISO.match(value)
    if m is None:
        return None
    y, mo, d, sep, h, mi, s, frac, tz = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    digits = len(frac) if frac else 0
    ns = int(frac.ljust(9, "0")) if frac else 0
    secs, ns = divmod(secs * 1_000_000_000 + ns + delta_ms * 1_000_000, 1_000_000_000)
    t = time.gmtime(secs)
    out = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}{sep}{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if digits:
        out += "." + f"{ns:09d}"[:digits]
    return out + (tz or "")


def _zeek_uid(seq: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    n = seq + 62**10
    while n:
        n, r = divmod(n, 62)
        out = alphabet[r] + out
    return "C" + out[-17:]


def _new_id(kind: str, seq: int, old: Any) -> Any:
    if kind == "int":
        return seq + 1 if isinstance(old, int) else str(seq + 1)
    if kind == "zeek":
        return _zeek_uid(seq)
    return f"00000000-0000-4000-8000-{seq:012d}"


@dataclass
class Rehost:
    """Value replacements for one re-hosted record."""

    delta_ms: int
    seq: int
    ips: dict[str, str]
    names: dict[str, Host]

    def name(self, value: str) -> str | None:
        low = value.lower()
        machine = low.endswith("$")
        key = low[:-1] if machine else low
        host = self.names.get(key)
        if host is None:
            return None
        short = host.short.upper() if value.split(".", 1)[0].rstrip("$").isupper() else host.short
        new = f"{short}.{DOMAIN}" if "." in key else short
        return new + ("$" if machine else "")

    def value(self, key: str | None, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.ips:
                return self.ips[value]
            if key in _ID_KEYS:
                return _new_id(_ID_KEYS[key], self.seq, value)
            if len(value) >= 19 and value[:4].isdigit():
                shifted = shift_iso(value, self.delta_ms)
                if shifted is not None:
                    return shifted
            if self.names and len(value) < 256:
                renamed = self.name(value)
                if renamed is not None:
                    return renamed
            return value
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(None, v) for v in value]
        if key in _EPOCH_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(value + self.delta_ms / 1000, 6)
        if key in _ID_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return _new_id(_ID_KEYS[key], self.seq, value)
        return value


def _mapping(tpl: Template, host: Host | None, table: list[Host], rng: random.Random) -> tuple[dict, dict]:
    names: dict[str, Host] = {}
    by_name: dict[str, Host] = {}
    if tpl.own and host is not None:
        by_name[tpl.own] = host
    ips: dict[str, str] = {}
    for value, bound in tpl.ips.items():
        if bound is not None:
            target = by_name.get(bound)
            if target is None:
                target = by_name[bound] = _other_host(table, host, rng)
            ips[value] = target.ip
        elif is_internal(value.split("%", 1)[0].lower().removeprefix("::ffff:")):
            ips[value] = _other_host(table, host, rng).ip
    for spelling, name in tpl.names.items():
        if name in by_name:
            names[spelling] = by_name[name]
    return ips, names


def _other_host(table: list[Host], host: Host | None, rng: random.Random) -> Host:
    other = table[rng.randrange(len(table))]
    if host is not None and other.index == host.index and len(table) > 1:
        other = table[(other.index + 1) % len(table)]
    return other


def rehost(tpl: Template, host: Host | None, ts_ms: int, seq: int, table: list[Host], rng: random.Random) -> bytes:
    """The template's record on ``host`` at event time ``ts_ms`` (record ids from ``seq``)."""
    ips, names = _mapping(tpl, host, table, rng)
    plan = Rehost(ts_ms - tpl.ts_ms, seq, ips, names)
    if tpl.doc is not None:
        doc = plan.value(None, tpl.doc)
        missing_id = _MISSING_ID.get(tpl.family)
        if missing_id and missing_id not in doc:  # a trimmed fixture: give it the id its source has
            doc[missing_id] = _new_id(_ID_KEYS[missing_id], seq, None)
        return orjson.dumps(doc)
    return _rehost_text(tpl.text or "", host, ts_ms, seq, ips)


def _rehost_text(text: str, host: Host | None, ts_ms: int, seq: int, ips: dict[str, str]) -> str | bytes:
    secs, ms = divmod(ts_ms, 1000)
    text = _AUDIT_HEAD.sub(f"msg=audit({secs}.{ms:03d}:{seq + 1})", text, count=1)
    text = _IPV4_TOKEN.sub(lambda m: ips.get(m.group(1), m.group(1)), text)
    if host is not None:
        text = f"node={host.short} " + _AUDIT_NODE.sub("", text)
    return text.encode("utf-8")


# -- pools ------------------------------------------------------------------------------------------


def _sample_files(samples: Path) -> list[Path]:
    return sorted(
        p for p in samples.glob("*/*")
        if p.is_file() and p.parent.name != "LICENSES" and p.suffix not in NOT_TELEMETRY
    )


@functools.lru_cache(maxsize=4)
def load_pools(samples: Path = SAMPLES, rules_dir: str | None = None) -> Pools:
    """Every sample record that parses, re-hosted once on a probe host and classified by what the
    project's normalizer and detector make of it (hits, binding facts)."""
    from udfs.detect.detector import load_detector

    if not samples.is_dir():
        raise FileNotFoundError(f"{samples}: the vendor samples (../shared/samples) are not here")
    detector = load_detector(rules_dir) if rules_dir else load_detector()
    normalizer = Normalizer(None)
    table = host_table(50)
    probe = {"windows": table[0], "linux": table[6]}
    pools = Pools()
    rng = random.Random(0)
    for path in _sample_files(samples):
        parsed = []
        for payload, origin in iter_records(path):
            outcome = normalizer.normalize(payload, origin)
            if outcome.event is not None:
                parsed.append((payload, origin.line or 0, outcome.event))
        bound = _file_bindings([e for _, _, e in parsed])
        for payload, line, event in parsed:
            tpl = _make_template(path, line, payload, event, bound)
            host = probe["linux"] if tpl.family == "auditd" else probe["windows"] if tpl.own else None
            verdict = classify(tpl, host, table, normalizer, detector, rng)
            if verdict is None:
                pools.dropped[tpl.family] += 1
                continue
            if tpl.techniques:
                pools.hits.append(tpl)
            elif tpl.facts:
                pools.facts.setdefault(tpl.family, []).append(tpl)
            else:
                pools.plain.setdefault(tpl.family, []).append(tpl)
            if verdict == "binder":
                pools.binders.append(tpl)
            for role in _roles(tpl):
                pools.steps.setdefault(role, []).append(tpl)
    _planted_variants(pools, table, normalizer, detector, rng)
    return pools


def classify(
    tpl: Template, host: Host | None, table: list[Host], normalizer: Normalizer, detector: Any, rng: random.Random
) -> str | None:
    """Re-host ``tpl`` once; fill its techniques/facts; None if it no longer parses at the right time
    or teaches a binding that contradicts the host table; "binder" if it binds ``host``'s address."""
    ts = T0 + 123_457
    payload = rehost(tpl, host, ts, 0, table, rng)
    event = normalizer.normalize(payload, Origin(topic="mix", partition=0, offset=0)).event
    if event is None or abs(event["timestamp_ms"] - ts) >= 1000:
        return None
    by_ip = {h.ip: h.short for h in table}
    facts = binding_facts(event)
    binder = False
    for f in facts:
        if f["subject"].startswith("ip:") and f["value"] is not None:
            if by_ip.get(f["subject"][3:]) != f["value"]:
                return None
            binder = binder or (host is not None and f["value"] == host.short)
    tpl.techniques = tuple(sorted({t for hit in detector.detect(event) for t in hit["techniques"]}))
    tpl.facts = bool(facts)
    tpl.ip_facts = any(f["subject"].startswith("ip:") for f in facts)
    own_ok = tpl.own is None or (host is not None and own_host(event) == host.short)
    if not own_ok:
        return None
    return "binder" if binder and tpl.family in WINDOWS_FAMILIES and not tpl.techniques else "ok"


def _roles(tpl: Template) -> list[str]:
    roles = []
    techs = tpl.techniques
    if tpl.family in WINDOWS_FAMILIES and tpl.own:
        if any(t.startswith("T1055") for t in techs) and not any(t.startswith("T1071") for t in techs):
            roles.append("injection")
        if any(t.startswith("T1003") for t in techs):
            roles.append("dump")
        if any(t.startswith(("T1569", "T1021")) for t in techs) and not any(t.startswith("T1003") for t in techs):
            roles.append("remote-exec")
    if tpl.family in ("zeek", "suricata") and any(t.startswith("T1071") for t in techs):
        roles.append("c2")
    return roles


def _get(doc: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _planted_variants(
    pools: Pools, table: list[Host], normalizer: Normalizer, detector: Any, rng: random.Random
) -> None:
    """Planted-step templates derived from real records: a Sysmon 8 with a script host injecting into
    explorer.exe; Zeek http with a C2-profile URI; Zeek dns with a tunnel-like label; a Suricata
    alert whose rule metadata names T1071."""
    everything = [t for group in (pools.hits, *pools.plain.values(), *pools.facts.values()) for t in group]
    for tpl in everything:
        doc = tpl.doc
        if doc is None:
            continue
        variant: dict[str, Any] | None = None
        role = ""
        if tpl.family in WINDOWS_FAMILIES and tpl.own:
            data, eid = _windows_data(tpl.family, doc)
            if eid == 8 and data is not None and "SourceImage" in data and "TargetImage" in data:
                variant = copy.deepcopy(doc)
                vdata, _ = _windows_data(tpl.family, variant)
                vdata["SourceImage"] = "C:\\Windows\\System32\\rundll32.exe"
                vdata["TargetImage"] = "C:\\Windows\\explorer.exe"
                role = "injection"
        elif tpl.family == "zeek" and doc.get("uri") is not None and "id.orig_h" in doc:
            variant = dict(doc, uri=f"/submit.php?id={rng.randrange(10**8)}")
            role = "c2"
        elif tpl.family == "zeek" and isinstance(doc.get("query"), str) and "id.orig_h" in doc:
            label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(44))
            variant = dict(doc, query=f"{label}.cdn-sync.example")
            role = "c2"
        elif tpl.family == "suricata" and isinstance(doc.get("alert"), dict) and doc.get("src_ip"):
            variant = copy.deepcopy(doc)
            variant["alert"]["signature"] = "ET MALWARE Cobalt Strike Beacon Observed"
            variant["alert"]["metadata"] = {"mitre_technique_id": ["T1071.001"], "mitre_tactic_id": ["TA0011"]}
            role = "c2"
        if variant is None:
            continue
        clone = Template(tpl.file, tpl.line, tpl.family, variant, None, tpl.ts_ms, tpl.own, tpl.names, tpl.ips)
        host = table[0] if tpl.own else None
        if classify(clone, host, table, normalizer, detector, rng) is not None and role in _roles(clone):
            clone.role = role
            pools.steps.setdefault(role, []).append(clone)


def _windows_data(family: str, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    """(the EventData dict, the event id) of a Windows record in any of the three wrappings."""
    try:
        if family == "windows_evtx_json":
            return _get(doc, "Event", "EventData"), int(_get(doc, "Event", "System", "EventID") or 0)
        if family == "winlogbeat":
            return _get(doc, "winlog", "event_data"), int(_get(doc, "winlog", "event_id") or 0)
        return doc, int(doc.get("EventID") or 0)
    except (TypeError, ValueError):
        return None, None


# -- the mix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    """One planted sequence: its rule, host, and the stream positions of its steps."""

    rule_id: str
    host: str
    binding: int | None  # position of the record binding the host's address (injection-then-c2)
    first: int
    last: int  # the completing step

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(p for p in (self.binding, self.first, self.last) if p is not None)


@dataclass
class Mix:
    events: list[bytes]
    times: list[int]  # event time of each event (ms)
    planted: list[Planted]
    hosts: list[Host]
    planted_templates: dict[int, Template] = field(default_factory=dict)

    def completing(self, seq: Planted) -> bytes:
        return self.events[seq.last]


def plan(
    n: int,
    hosts: int = 2_000,
    seed: int = 1,
    *,
    rate: float = 100.0,
    planted_every: int = 1_000,
    gap_ms: tuple[int, int] = (30_000, 300_000),
) -> list[Planted]:
    """Where the planted sequences go: deterministic for (n, hosts, seed, rate, planted_every, gap)."""
    rng = random.Random(f"plan-{seed}")
    table = host_table(hosts)
    windows = [h for h in table if h.kind == "windows"]
    count = n // planted_every if planted_every > 0 else 0
    lead = max(2, int(rate * 2))  # the binding event, ~2 s of event time before the injection
    used: set[int] = set()
    busy: dict[tuple[str, str], list[tuple[int, int]]] = {}
    out = []
    for k in range(count):
        rule = SEQUENCE_RULES[k % 2]
        # a short stream: keep the steps in it (the gap at most a third of the stream)
        hi_gap = max(1, min(int(gap_ms[1] * rate / 1000), (n - lead) // 3))
        lo_gap = max(1, min(int(gap_ms[0] * rate / 1000), hi_gap))
        for _attempt in range(50):
            gap = rng.randint(lo_gap, hi_gap)
            if n - gap - 1 <= lead:
                gap = max(1, (n - lead - 1) // 2)
            first = rng.randrange(lead, max(lead + 1, n - gap))
            last = first + gap
            binding = first - lead if rule == INJECTION_RULE else None
            slots = [s for s in (binding, first, last) if s is not None]
            if last < n and not used.intersection(slots):
                break
        else:
            continue
        used.update(slots)
        # Two sequences of one rule interleaved on one host make one alert, not two: keep a rule's
        # sequences on a host a rule window apart (different rules may overlap, and must both alert)
        margin = int(RULE_WITHIN_MS[rule] * rate / 1000)
        for _attempt in range(100):
            host = windows[rng.randrange(len(windows))]
            spans = busy.get((rule, host.short), [])
            if all(last + margin < s or e + margin < first for s, e in spans):
                break
        busy.setdefault((rule, host.short), []).append((first, last))
        out.append(Planted(rule, host.short, binding, first, last))
    return out


def planted_count(n: int, hosts: int = 2_000, seed: int = 1, **kw: Any) -> int:
    """How many planted sequences ``generate(n, hosts, seed, **kw)`` holds."""
    return len(plan(n, hosts, seed, **{k: v for k, v in kw.items() if k in ("rate", "planted_every", "gap_ms")}))


def build_mix(
    n: int,
    hosts: int = 2_000,
    seed: int = 1,
    *,
    t0_ms: int = T0,
    rate: float = 100.0,
    jitter_ms: int = 5_000,
    planted_every: int = 1_000,
    gap_ms: tuple[int, int] = (30_000, 300_000),
    hit_share: float = HIT_SHARE,
    windows_fact_share: float = WINDOWS_FACT_SHARE,
    samples: Path = SAMPLES,
) -> Mix:
    """``n`` events over ``hosts`` hosts; event i at ``t0_ms + i * 1000 / rate`` + [0, jitter_ms)."""
    pools = load_pools(samples)
    table = host_table(hosts)
    by_kind = {k: [h for h in table if h.kind == k] for k in ("windows", "linux")}
    if not by_kind["linux"]:
        by_kind["linux"] = by_kind["windows"]
    rng = random.Random(f"mix-{seed}")
    planted = plan(n, hosts, seed, rate=rate, planted_every=planted_every, gap_ms=gap_ms)
    by_short = {h.short: h for h in table}
    step_at: dict[int, tuple[str, Host]] = {}
    for seq in planted:
        host = by_short[seq.host]
        if seq.binding is not None:
            step_at[seq.binding] = ("binding", host)
        if seq.rule_id == INJECTION_RULE:
            step_at[seq.first] = ("injection", host)
            step_at[seq.last] = ("c2", host)
        else:
            step_at[seq.first] = ("dump", host)
            step_at[seq.last] = ("remote-exec", host)

    families = list(FAMILY_WEIGHTS)
    fam_cum = _cumulative([FAMILY_WEIGHTS[f] for f in families])
    per_family = Counter(t.family for t in pools.hits)
    hit_weights = [FAMILY_WEIGHTS.get(t.family, 0.01) / per_family[t.family] for t in pools.hits]
    hit_cum = _cumulative(hit_weights)
    events: list[bytes] = []
    times: list[int] = []
    planted_templates: dict[int, Template] = {}
    step_ms = 1000.0 / rate
    for i in range(n):
        base = t0_ms + int(i * step_ms)
        step = step_at.get(i)
        if step is not None:
            role, host = step
            tpl = _pick_step(pools, role, rng)
            ts = base
            planted_templates[i] = tpl
            payload = rehost(tpl, host if tpl.own else None, ts, i, table, rng)
            if role == "c2":
                payload = _source_is(tpl, payload, host)
        else:
            ts = base + (rng.randrange(jitter_ms) if jitter_ms > 0 else 0)
            if rng.random() < hit_share and pools.hits:
                tpl = pools.hits[bisect.bisect_right(hit_cum, rng.random() * hit_cum[-1])]
            else:
                fam = families[bisect.bisect_right(fam_cum, rng.random() * fam_cum[-1])]
                use_facts = fam in WINDOWS_FAMILIES and rng.random() < windows_fact_share
                group = (pools.facts if use_facts else pools.plain).get(fam) or pools.plain.get(fam) or \
                    pools.facts.get(fam) or []
                if not group:
                    group = [t for g in pools.plain.values() for t in g]
                tpl = group[rng.randrange(len(group))]
            host = None
            if tpl.own or tpl.family == "auditd":  # audit.log lines name their host with node=
                kinds = by_kind["linux" if tpl.family == "auditd" else "windows"]
                host = kinds[rng.randrange(len(kinds))]
            payload = rehost(tpl, host, ts, i, table, rng)
        events.append(payload)
        times.append(ts)
    return Mix(events, times, planted, table, planted_templates)


def generate(n: int, hosts: int = 2_000, seed: int = 1, **kw: Any) -> list[bytes]:
    """``n`` raw events (bytes, as a sensor would send them), re-hosted over ``hosts`` hosts."""
    return build_mix(n, hosts, seed, **kw).events


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _pick_step(pools: Pools, role: str, rng: random.Random) -> Template:
    """A template for a planted step: a source file first (uniformly), then a record of it, so that
    300 DNS records do not crowd out 8 HTTP ones."""
    group = pools.binders if role == "binding" else pools.steps.get(role)
    if not group:
        return _plain_json_step(role)
    files = sorted({t.file for t in group})
    chosen = files[rng.randrange(len(files))]
    group = [t for t in group if t.file == chosen]
    return group[rng.randrange(len(group))]


PLAIN_STEP = {"injection": "T1055", "c2": "T1071.001", "dump": "T1003.001", "remote-exec": "T1569.002"}


def _plain_json_step(role: str) -> Template:
    """The fallback when the samples hold no record for a step: the project's plain JSON form."""
    doc: dict[str, Any] = {"event_id": "planted", "timestamp": "2024-05-01T10:00:00.000Z", "host": "h",
                           "src_ip": "10.0.0.1"}
    if role in PLAIN_STEP:
        doc["attck_technique"] = PLAIN_STEP[role]
    names = {"h": "h"}
    return Template("plain", 0, "plain_json", doc, None, T0, "h", names, {"10.0.0.1": "h"}, (PLAIN_STEP.get(role, ""),))


def _source_is(tpl: Template, payload: bytes, host: Host) -> bytes:
    """A planted C2 record: its initiator is ``host``'s address, its peer an outside address."""
    doc = orjson.loads(payload)
    if tpl.family == "zeek":
        doc["id.orig_h"] = host.ip
        if is_internal(str(doc.get("id.resp_h", ""))):
            doc["id.resp_h"] = "198.51.100.23"
    elif tpl.family == "suricata":
        doc["src_ip"] = host.ip
        if is_internal(str(doc.get("dest_ip", ""))):
            doc["dest_ip"] = "198.51.100.23"
    else:
        doc["src_ip"] = host.ip
        doc["host"] = host.short
    return orjson.dumps(doc)


# -- measuring a mix ----------------------------------------------------------------------------------


@dataclass
class MixStats:
    events: int = 0
    normalized: int = 0
    dead: int = 0
    hit_events: int = 0
    hits: int = 0
    fact_events: int = 0
    ip_fact_events: int = 0
    bad_bindings: int = 0
    formats: Counter = field(default_factory=Counter)
    techniques: Counter = field(default_factory=Counter)
    distinct_payloads: int = 0

    def lines(self) -> list[str]:
        n = max(1, self.events)
        fmts = ", ".join(f"{k} {v / n:.0%}" for k, v in self.formats.most_common())
        techs = ", ".join(f"{k} {v}" for k, v in self.techniques.most_common(8))
        return [
            f"events {self.events:,}: normalized {self.normalized:,}, dead letters {self.dead:,}; "
            f"distinct payloads {self.distinct_payloads:,}",
            f"events with a technique hit: {self.hit_events:,} ({self.hit_events / n:.1%}); "
            f"hits (signals): {self.hits:,} ({self.hits / n:.2f} per event)",
            f"events carrying binding facts: {self.fact_events:,} ({self.fact_events / n:.1%}); "
            f"host<->address facts: {self.ip_fact_events:,} ({self.ip_fact_events / n:.1%}); "
            f"facts contradicting the host table: {self.bad_bindings}",
            f"formats: {fmts}",
            f"top techniques: {techs}",
        ]


def measure(events: list[bytes], hosts: list[Host] | None = None, rules_dir: str | None = None) -> MixStats:
    """What the project's own normalizer and detector make of ``events``."""
    from udfs.detect.detector import load_detector

    normalizer = Normalizer(None)
    detector = load_detector(rules_dir) if rules_dir else load_detector()
    by_ip = {h.ip: h.short for h in hosts} if hosts else None
    stats = MixStats(events=len(events), distinct_payloads=len(set(events)))
    origin = Origin(topic="mix", partition=0, offset=0)
    for payload in events:
        outcome = normalizer.normalize(payload, origin)
        event = outcome.event
        if event is None:
            stats.dead += 1
            continue
        stats.normalized += 1
        stats.formats[event["source_format"]] += 1
        hits = detector.detect(event)
        if hits:
            stats.hit_events += 1
            stats.hits += len(hits)
            for hit in hits:
                stats.techniques.update(hit["techniques"])
        facts = binding_facts(event)
        if facts:
            stats.fact_events += 1
        ip_facts = [f for f in facts if f["subject"].startswith("ip:") and f["value"]]
        if ip_facts:
            stats.ip_fact_events += 1
            if by_ip is not None:
                stats.bad_bindings += sum(1 for f in ip_facts if by_ip.get(f["subject"][3:]) != f["value"])
    return stats


def expected_alerts(mix: Mix, out_of_orderness_ms: int = 60_000) -> list[Planted]:
    """Planted sequences whose completing step the watermark passes by the end of the stream."""
    horizon = max(mix.times) - out_of_orderness_ms if mix.times else 0
    return [p for p in mix.planted if mix.times[p.last] < horizon]


def write_jsonl(path: Path, events: list[bytes]) -> None:
    with path.open("wb") as fh:
        for payload in events:
            fh.write(payload.rstrip(b"\n") + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second of event time")
    parser.add_argument("--planted-every", type=int, default=1_000)
    parser.add_argument("--write", type=Path, help="write the events as JSON lines (auditd records as text lines)")
    args = parser.parse_args()
    started = time.perf_counter()
    mix = build_mix(args.events, args.hosts, args.seed, rate=args.rate, planted_every=args.planted_every)
    built = time.perf_counter() - started
    stats = measure(mix.events, mix.hosts)
    pools = load_pools()
    print(f"mix: {args.events:,} events, {args.hosts:,} hosts, seed {args.seed} (built in {built:.1f} s)")
    for line in stats.lines():
        print(f"  {line}")
    rules = Counter(p.rule_id for p in mix.planted)
    print(f"  planted sequences: {len(mix.planted)} ({', '.join(f'{k} {v}' for k, v in rules.items())}); "
          f"completing before the final watermark: {len(expected_alerts(mix))}")
    roles = {k: len(v) for k, v in sorted(pools.steps.items())}
    print(f"  pools: {len(pools.hits)} hit records, binders {len(pools.binders)}, step templates {roles}, "
          f"dropped (inconsistent after re-hosting) {dict(pools.dropped)}")
    if args.write:
        write_jsonl(args.write, mix.events)
        print(f"  wrote {args.write}")


if __name__ == "__main__":
    main()
