"""Job configuration: one picklable value handed to every operator, and the record limits it sets.

Plain frozen dataclasses (no pydantic): the config is one of the job's inputs, like the models beside it.
Imports nothing of ``udfs`` or ``jobs``, so both may import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = PROJECT_ROOT / "rules"

# The default, chosen after measuring both (README, "Savepoints and the Python execution mode"):
# process mode isolates the Python worker from the TaskManager JVM, so several jobs share a session
# cluster's TaskManager and savepoints restore with their state. Thread mode ran keyed state ~10x
# faster but failed on a second job per JVM (pemja on JDK 17): opt in per job where a TaskManager
# runs this job alone.
PYTHON_EXECUTION_MODE = "process"
PYTHON_EXECUTION_MODES = ("process", "thread")

# What one record may put into a Kafka output, whatever the input (Kafka's default max.request.size
# and max.message.bytes are 1 MiB): a dead letter keeps at most this much of the raw payload (base64
# at worst: 683 KiB, plus its envelope; schemas.dead_letter), and a signal (the late output wraps
# one) or an alert's share of the hit is at most this many bytes (udfs.analyze).
DEFAULT_DEAD_LETTER_MAX_BYTES = 524_288
DEFAULT_OUTPUT_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Limits:
    """The hostile-input caps every raw record is decoded under (``udfs.normalize.rawjson``)."""

    max_bytes: int = 1_048_576
    max_depth: int = 32
    max_array: int = 10_000


@dataclass(frozen=True)
class Topics:
    raw: tuple[str, ...] = ("ttpflow.raw",)
    alerts: str = "ttpflow.alerts"
    signals: str = "ttpflow.signals"
    dead_letter: str = "ttpflow.dead-letter"
    late: str = "ttpflow.late"
    suppressed: str = "ttpflow.suppressed"  # hits suppression rules took, with the rule and its reason


@dataclass(frozen=True)
class JobConfig:
    rules_dir: str = str(DEFAULT_RULES_DIR)
    sigma_paths: tuple[str, ...] = ()
    default_format: str | None = None  # None: detect the format per record
    topic_formats: dict[str, str] = field(default_factory=dict)
    out_of_orderness_ms: int = 60_000
    idleness_ms: int = 30_000
    allowed_lateness_ms: int = 0
    checkpoint_interval_ms: int = 10_000
    restart_attempts: int = 0
    python_execution_mode: str = PYTHON_EXECUTION_MODE
    max_record_bytes: int = 1_048_576
    max_json_depth: int = 32
    topics: Topics = field(default_factory=Topics)
    bootstrap_servers: str | None = None
    consumer_group: str = "ttpflow"
    transactional_id_prefix: str = "ttpflow"
    parallelism: int = 1
    assets_path: str | None = None  # asset inventory (rules/assets/inventory.yaml is a sample)
    # Compacted Kafka topics of context entries overlaid on the inventory, hot-reloaded (udfs.context.topics)
    assets_topic: str | None = None
    identities_topic: str | None = None
    change_windows_topic: str | None = None
    binding_max_age_ms: int = 86_400_000  # an address / session binding not seen again for this long is not trusted
    checkpoint_dir: str | None = None  # local runs: filesystem checkpoints here (a cluster uses its own config)
    start_from_ms: int | None = None  # Kafka: read from this record time, not the group's offsets
    emit_events: bool = False  # the normalized events as an output (file runs that ask for them)
    state_ttl_ms: int = 7 * 86_400_000  # keyed correlate state untouched this long (processing time) is dropped
    dead_letter_max_bytes: int = DEFAULT_DEAD_LETTER_MAX_BYTES  # raw payload kept whole up to this; a prefix above
    output_max_bytes: int = DEFAULT_OUTPUT_MAX_BYTES  # a signal larger than this dead-letters its record
    # Signals, events and suppressed records carry the event redacted (udfs.redact, the log rules); True
    # keeps it as parsed (--keep-raw-in-signals). The raw payload is kept only in dead letters either way.
    keep_raw_in_signals: bool = False
    # Adaptive baselines (udfs.baseline, docs/scoring.md): the decayed counts' half-life; None: off (--no-baselines)
    baseline_half_life_ms: int | None = 7 * 86_400_000
    metrics_port: str | None = None  # ttpflow run --metrics-port: the MiniCluster Prometheus port (jobs.local.metrics)
    # Analyst feedback (docs/scoring.md): verdicts on this topic join the alerts topic read back; a verdict
    # waits this long (processing time) for its alert before it is dead-lettered as unknown_alert_id.
    feedback_topic: str | None = None
    feedback_wait_ms: int = 600_000
    # Kafka client properties (--kafka-property KEY=VALUE, in order) and --kafka-config FILE, as given: secret
    # references (${env:NAME}, ${file:/path}) and the file are read only where a client is built
    # (jobs.kafka_props), so no secret is pickled into operators; repr=False keeps them out of any repr.
    kafka_properties: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    kafka_config_file: str | None = field(default=None, repr=False)

    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_record_bytes, max_depth=self.max_json_depth)
