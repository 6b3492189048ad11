"""The unified event model.

Field names follow the Elastic Common Schema (ECS) 8.x: it is nested the way detection rules
already think (``process.parent.executable``, ``source.ip``), Winlogbeat and Elastic Agent emit it
natively, and Sigma's own ECS pipelines map onto it. OCSF's class/category split would force every
parser to pick one class per record; ECS lets one record carry process, network and user facts
together, as a Sysmon network event does.

Inside the job the event travels as the plain ``dict`` produced by :meth:`Event.to_record` (cheap to
pickle between Flink operators); it is validated by this model once, at the normalize edge.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_SCHEMA_VERSION = 1

# Events outside this range are almost always clock or parser bugs; they go to the dead letter.
MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_FUTURE_SKEW_MS = 7 * 24 * 3600 * 1000


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class EventMeta(_Part):
    kind: Literal["event", "alert", "metric", "state"] = "event"
    category: list[str] = Field(default_factory=list)
    type: list[str] = Field(default_factory=list)
    action: str | None = None
    outcome: Literal["success", "failure", "unknown"] | None = None
    code: str | None = None
    provider: str | None = None
    dataset: str | None = None
    module: str | None = None
    id: str | None = None
    severity: int | None = None
    reason: str | None = None
    duration_ms: int | None = Field(default=None, ge=0, description="ECS event.duration, in ms: a connection's length")


class Os(_Part):
    family: str | None = None
    name: str | None = None
    version: str | None = None


class Host(_Part):
    name: str | None = None
    hostname: str | None = None
    domain: str | None = None
    ip: list[str] = Field(default_factory=list)
    os: Os | None = None
    criticality: int | None = Field(default=None, ge=0, le=10)


class User(_Part):
    name: str | None = None
    domain: str | None = None
    id: str | None = Field(default=None, description="SID, uid, Okta/Entra object id, AWS principal id")
    email: str | None = None
    full_name: str | None = None
    roles: list[str] = Field(default_factory=list)
    privileged: bool | None = Field(
        default=None, description="hint: SYSTEM/root/admin RID/elevated token/special privileges; None = unknown"
    )
    target: User | None = None


class Hash(_Part):
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    sha512: str | None = None
    imphash: str | None = None


class Pe(_Part):
    """Version-resource facts Sysmon reports; renamed-binary detections compare them with the name."""

    original_file_name: str | None = None
    description: str | None = None
    product: str | None = None
    company: str | None = None
    file_version: str | None = None


class ParentProcess(_Part):
    pid: int | None = None
    entity_id: str | None = None
    executable: str | None = None
    name: str | None = None
    command_line: str | None = None


class Process(_Part):
    pid: int | None = None
    entity_id: str | None = None
    executable: str | None = None
    name: str | None = None
    command_line: str | None = None
    args: list[str] = Field(default_factory=list)
    working_directory: str | None = None
    integrity_level: str | None = None
    user: str | None = None
    parent: ParentProcess | None = None
    target: ParentProcess | None = Field(
        default=None, description="the process acted upon (Sysmon 8/10: remote thread, process access)"
    )
    hash: Hash | None = None
    pe: Pe | None = None


class Geo(_Part):
    city_name: str | None = None
    region_name: str | None = None
    country_name: str | None = None
    country_iso_code: str | None = None


class Endpoint(_Part):
    ip: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    domain: str | None = None
    mac: str | None = None
    bytes: int | None = Field(default=None, ge=0)
    packets: int | None = Field(default=None, ge=0)
    user: str | None = None
    geo: Geo | None = None


class Network(_Part):
    transport: str | None = None
    protocol: str | None = None
    direction: str | None = None
    bytes: int | None = Field(default=None, ge=0)
    packets: int | None = Field(default=None, ge=0)
    community_id: str | None = None


class Dns(_Part):
    id: str | None = None
    type: str | None = Field(default=None, description="query or answer (Suricata); None when both")
    question_name: str | None = None
    question_type: str | None = None
    answers: list[str] = Field(default_factory=list)
    resolved_ip: list[str] = Field(default_factory=list)
    response_code: str | None = None


class Http(_Part):
    method: str | None = None
    url: str | None = None
    status_code: int | None = None
    user_agent: str | None = None
    host: str | None = None
    referrer: str | None = None
    version: str | None = None
    request_body_bytes: int | None = Field(default=None, ge=0)
    response_body_bytes: int | None = Field(default=None, ge=0)
    mime_type: str | None = None


class Tls(_Part):
    server_name: str | None = None
    version: str | None = None
    cipher: str | None = None
    established: bool | None = None
    ja3: str | None = None
    ja3s: str | None = None
    server_subject: str | None = None
    server_issuer: str | None = None
    server_hash_sha1: str | None = None


class Authentication(_Part):
    """Not an ECS field set (ECS spreads these over event.* and winlog.*); kept together for scoring."""

    logon_type: str | None = None
    method: str | None = None
    protocol: str | None = None
    mfa: bool | None = None
    outcome: Literal["success", "failure", "unknown"] | None = None
    failure_reason: str | None = None
    session_id: str | None = None
    ticket_encryption: str | None = None
    risk_level: str | None = None
    # What the identity provider itself says of this sign-in (Okta behaviors / ThreatInsight, Entra risk
    # detections and device state, CloudTrail identity type); None: the event does not say.
    new_device: bool | None = Field(default=None, description="Okta behavior New Device")
    new_ip: bool | None = Field(default=None, description="Okta behavior New IP")
    new_country: bool | None = Field(default=None, description="Okta behavior New Country, Entra newCountry")
    velocity: bool | None = Field(default=None, description="Okta behavior Velocity: impossible travel")
    impossible_travel: bool | None = Field(default=None, description="Entra impossibleTravel / unlikelyTravel")
    threat_suspected: bool | None = Field(default=None, description="Okta ThreatInsight debugData.threatSuspected")
    anonymized_ip: bool | None = Field(default=None, description="Okta securityContext isProxy / isTor, "
                                       "Entra anonymizedIPAddress")
    token_anomaly: bool | None = Field(default=None, description="Entra anomalousToken / tokenIssuerAnomaly")
    unmanaged_device: bool | None = Field(default=None, description="Entra deviceDetail: not managed / not registered")
    risk_events: list[str] | None = Field(default=None, description="Entra riskEventTypes(_v2), as listed")
    root: bool | None = Field(default=None, description="CloudTrail userIdentity.type Root")
    sensitive_call: bool | None = Field(default=None, description="CloudTrail: an IAM / STS / Organizations write")


class Cloud(_Part):
    provider: str | None = None
    account: str | None = None
    tenant: str | None = None
    region: str | None = None
    service: str | None = None
    api_call: str | None = None
    principal: str | None = None
    principal_type: str | None = None
    user_agent: str | None = None
    resource: str | None = None
    error_code: str | None = None


class File(_Part):
    path: str | None = None
    name: str | None = None
    directory: str | None = None
    extension: str | None = None
    size: int | None = Field(default=None, ge=0)
    mime_type: str | None = None
    hash: Hash | None = None


class Registry(_Part):
    path: str | None = None
    hive: str | None = None
    key: str | None = None
    value: str | None = None
    data: str | None = None


class Group(_Part):
    name: str | None = None
    domain: str | None = None
    id: str | None = None


class Service(_Part):
    """A Windows service or systemd unit an event installs, changes or reports on."""

    name: str | None = None
    type: str | None = None
    state: str | None = None
    start_type: str | None = None
    path: str | None = Field(default=None, description="image path / command the service runs")
    account: str | None = None


class Rule(_Part):
    """The vendor detection that fired (Suricata signature, Zeek notice, Defender threat)."""

    id: str | None = None
    name: str | None = None
    category: str | None = None
    ruleset: str | None = None


class Origin(_Part):
    """Where a record came from, for replay and forensics."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None


class Threat(_Part):
    """ATT&CK ids the record already carried (EDR alerts) or that a technique map assigned."""

    technique_ids: list[str] = Field(default_factory=list)

    @field_validator("technique_ids")
    @classmethod
    def _upper_unique(cls, ids: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for raw in ids:
            tid = raw.strip().upper()
            if not is_technique_id(tid):
                raise ValueError(f"expected an ATT&CK technique id like T1059 or T1059.001, got {raw!r}")
            seen.setdefault(tid, None)
        return list(seen)


def is_technique_id(tid: str) -> bool:
    """``T1059`` or ``T1059.001`` (upper case)."""
    if len(tid) < 5 or tid[0] != "T" or not tid[1:5].isdigit():
        return False
    rest = tid[5:]
    return rest == "" or (len(rest) == 4 and rest[0] == "." and rest[1:].isdigit())


_is_technique_id = is_technique_id  # the name before it was made public; kept for callers


class Event(_Part):
    schema_version: int = EVENT_SCHEMA_VERSION
    timestamp_ms: int = Field(description="event time, UTC epoch milliseconds")
    ingest_ms: int | None = None
    source_format: str
    parser_version: str
    raw_sha256: str = Field(description="first 16 hex chars of sha256 over the raw payload bytes")
    id: str | None = None
    event: EventMeta = Field(default_factory=EventMeta)
    host: Host = Field(default_factory=Host)
    user: User | None = None
    process: Process | None = None
    source: Endpoint | None = None
    destination: Endpoint | None = None
    network: Network | None = None
    dns: Dns | None = None
    http: Http | None = None
    tls: Tls | None = None
    authentication: Authentication | None = None
    cloud: Cloud | None = None
    file: File | None = None
    registry: Registry | None = None
    group: Group | None = None
    service: Service | None = None
    rule: Rule | None = None
    threat: Threat = Field(default_factory=Threat)
    origin: Origin = Field(default_factory=Origin)
    original: dict[str, Any] = Field(default_factory=dict, description="vendor fields, for rule matching")

    @field_validator("timestamp_ms")
    @classmethod
    def _sane_time(cls, ts: int) -> int:
        now_ms = int(time.time() * 1000)  # time.time(): a third of datetime.now()'s cost, on every event
        if ts < MIN_EVENT_TIME_MS or ts > now_ms + MAX_FUTURE_SKEW_MS:
            raise ValueError(f"event time {ts} ms is outside 2000-01-01 .. now+7d; check the timestamp field")
        return ts

    def to_record(self) -> dict[str, Any]:
        """The plain-dict form that travels through the job."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


User.model_rebuild()
