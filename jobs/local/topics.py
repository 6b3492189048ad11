"""The job's Kafka topics, created (or brought in line) before a job runs: ``ttpflow kafka topics``.

Output topics (alerts, signals, dead letter, late, suppressed) get ``message.timestamp.type=LogAppendTime``: the
job writes each record with its *event* time as the Kafka timestamp, so on a topic that keeps
producer timestamps a replay of last month's telemetry would be deleted by retention at once (and
time-based lookups would jump around). With LogAppendTime the broker stamps the write time, and
retention counts from then. Raw topics keep the producer's timestamps: `--start-from-timestamp` (and
`ttpflow upgrade`) seek the raw topics by record time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.config import Topics
from udfs.errors import TtpflowError

TIMESTAMP_TYPE = "message.timestamp.type"
OUTPUT_TOPIC_CONFIGS: dict[str, str] = {TIMESTAMP_TYPE: "LogAppendTime"}


class TopicError(TtpflowError):
    """A topic could not be created or configured; the message names the topic and the broker."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def job_topics(topics: Topics, partitions: int = 1) -> list[TopicSpec]:
    """Raw topics as they are; output topics with LogAppendTime."""
    outputs = (topics.alerts, topics.signals, topics.dead_letter, topics.late, topics.suppressed)
    specs = [TopicSpec(name, partitions) for name in topics.raw]
    specs += [TopicSpec(name, partitions, dict(OUTPUT_TOPIC_CONFIGS)) for name in outputs]
    seen: set[str] = set()
    unique = []
    for spec in specs:  # one topic may serve two roles (e.g. late into the dead letter): keep its first
        if spec.name not in seen:
            seen.add(spec.name)
            unique.append(spec)
    return unique


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float = 30.0,
                  client: dict[str, Any] | None = None) -> dict[str, str]:
    """Create each missing topic; set the configs of those that exist. Returns {topic: what was done}.

    Partitions of an existing topic are left alone (growing them reshuffles keys). ``client``: kafka-python
    settings for a secured broker (``jobs.kafka_props.kafka_python_args``).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    specs = list(specs)
    try:
        # A broker that is not there is named in 10 s, not after kafka-python's default 30 s and more.
        admin = KafkaAdminClient(**{"bootstrap_servers": bootstrap, "client_id": "ttpflow-topics",
                                    "bootstrap_timeout_ms": 10_000, "request_timeout_ms": int(timeout_s * 1000),
                                    **(client or {})})
    except KafkaError as err:
        raise TopicError(f"cannot reach Kafka at {bootstrap}: {err}") from None
    done: dict[str, str] = {}
    try:
        existing = set(admin.list_topics())
        missing = {s.name: {"num_partitions": s.partitions, "replication_factor": 1, "configs": s.configs}
                   for s in specs if s.name not in existing}
        if missing:
            try:
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000), wait_for_metadata=True)
            except KafkaError as err:
                raise TopicError(f"creating {', '.join(missing)} on {bootstrap}: {err}") from None
            done.update({name: "created" for name in missing})
        present = [s for s in specs if s.name in existing and s.configs]
        current = topic_configs(bootstrap, [s.name for s in present], client) if present else {}
        to_alter = [s for s in present
                    if any(current.get(s.name, {}).get(k) != v for k, v in s.configs.items())]
        if to_alter:
            resources = [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=dict(s.configs)) for s in to_alter]
            try:
                admin.alter_configs(resources, incremental=True)
            except KafkaError as err:
                raise TopicError(f"setting {', '.join(s.name for s in to_alter)} on {bootstrap}: {err}") from None
            done.update({s.name: "configured" for s in to_alter})
        done.update({s.name: "exists" for s in specs if s.name not in done})
    finally:
        admin.close()
    return done


def topic_configs(bootstrap: str, names: Iterable[str],
                  client: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """The effective value of every config of each topic (for checks and tests)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(**{"bootstrap_servers": bootstrap, "client_id": "ttpflow-topics", **(client or {})})
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        described = admin.describe_configs(resources, config_filter="all")
    finally:
        admin.close()
    return _config_values(described)


def _config_values(described: object) -> dict[str, dict[str, str]]:
    """Flatten describe_configs' answer, which is {type: {name: {key: {value: ...}}}} in kafka-python 3."""
    out: dict[str, dict[str, str]] = {}
    if isinstance(described, dict):
        for by_name in described.values():
            for name, entries in by_name.items():
                out[name] = {key: (entry.get("value") if isinstance(entry, dict) else entry)
                             for key, entry in entries.items()}
    return out
