"""Throughput: the full job against the pass-through ceiling and the SQL-only physical limit.

    .venv/bin/python bench/bench_throughput.py [--events 100000] [--parallelism 1 2] [--timeout 900]

One run, one broker (started here on free loopback ports unless --bootstrap-servers), one realistic
mix (bench/mix.py: the vendor samples re-hosted over 2,000 hosts, ~15% technique hits, ~20% binding
facts, planted T1055 -> T1071 and T1003 -> T1569 sequences) in one raw topic, then per parallelism:

a. SQL only:   Kafka -> INSERT INTO sink SELECT * FROM source (kafka connector, format raw) -> Kafka,
               no Python at all: the physical limit of the connector and the MiniCluster;
b. ceiling:    the job's own raw-bytes source and sink with an identity Python map between them
               (bench_pipeline.run_identity_job);
c. ttpflow:    jobs.flink_job.build_kafka_job(JobConfig(...)), the real job, nothing else.

Rates are events/s from the output topics' record write times (LogAppendTime; first to last record),
so JVM, Python and job start-up are excluded; the full job is timed on its signals topic (one record
per technique hit, spread over the whole input). Each job runs in its own process; while it runs:

- its MiniCluster's REST API is polled. The local executor gives the MiniCluster a random REST port
  unless ``rest.bind-port`` is set, and the job builds its own Configuration, so this benchmark adds
  ``rest.bind-port`` (and a 2 s metric fetcher interval) where PyFlink turns a Configuration into an
  environment (``StreamExecutionEnvironment.get_execution_environment``), in the job's process only,
  without touching the job's code. Per vertex (``/jobs/<id>``, and ``/jobs/<id>/vertices/<v>`` per
  subtask) it reads the accumulated busy / back-pressured times (the totals behind the
  busyTimeMsPerSecond / backPressuredTimeMsPerSecond gauges: exact over a window, where the gauges are
  smoothed) and reports them as ms per second over the measured window;
  and ``/jobs/<id>/checkpoints`` for checkpoint counts, durations and sizes;
- /proc is sampled for the CPU time of the job's processes. Locally PyFlink runs its Python workers
  in loopback mode, inside the job's driver process, so "Python CPU" is that process's CPU time (the
  beam_boot child it also starts stays idle) and "JVM CPU" the MiniCluster JVM's.
  Python µs/event = Python CPU time over the measured window / input events.

Then the event-to-alert latency: the full job on a fresh topic, fed the same kind of mix at half its
measured throughput with event times = wall-clock now, checkpoints every --latency-checkpoint-interval
(alerts are Kafka transactions committed on checkpoints); latency = time the alert becomes visible to
a read_committed consumer (and the alert record's broker write time) minus the send time of the
event that completes a planted sequence. An alert cannot fire before the watermark passes its last
event (--out-of-orderness behind the newest event time), so the table also gives the latency after
that point: from the send of the first event that moved the watermark past the completing one.

Prints a markdown table (with the command line) ready for the README. Every wait is bounded; the
broker and the jobs started here are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import bench_pipeline  # noqa: E402
import mix  # noqa: E402
from bench_pipeline import count_and_window, produce  # noqa: E402

from jobs.local.kafka import LocalKafka, free_port  # noqa: E402
from tests.conftest import consume_from_kafka, create_kafka_topic  # noqa: E402

CONNECTOR_DIR = ROOT / "flink-conf" / "lib" / "connectors"
# full-nobase: the full job under --no-baselines (adaptive baselines off), to measure what they cost
KINDS = ("sql", "identity", "full", "full-nobase")
FULL_KINDS = ("full", "full-nobase")
KIND_TITLES = {"sql": "SQL only", "identity": "identity Python map", "full": "ttpflow",
               "full-nobase": "ttpflow --no-baselines"}
# Per vertex, in ms since its tasks started (/jobs/<id> gives them summed over subtasks, /jobs/<id>/vertices/<v>
# per subtask): deltas over the measured window are exact, where the ...MsPerSecond gauges are smoothed.
TIME_KEYS = ("accumulated-busy-time", "accumulated-backpressured-time", "accumulated-idle-time")


def _times(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key in TIME_KEYS:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            value = float(metrics[key])
            if not math.isnan(value):
                out[key] = value
    return out
CLK_TCK = os.sysconf("SC_CLK_TCK")


# == inside the job's own process ====================================================================


def _pin_rest_port(port: int) -> None:
    """Make every environment this process builds serve the MiniCluster's REST API on ``port``.

    The local executor gives the MiniCluster a random REST port unless ``rest.bind-port`` is set;
    the job builds its own Configuration (jobs.flink_job.environment), so the option is added where
    PyFlink turns a Configuration into an environment, without touching the job's code."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    original = StreamExecutionEnvironment.get_execution_environment

    def get_execution_environment(configuration: Configuration | None = None) -> StreamExecutionEnvironment:
        conf = configuration if configuration is not None else Configuration()
        conf.set_string("rest.bind-address", "127.0.0.1")
        conf.set_string("rest.address", "127.0.0.1")
        conf.set_string("rest.bind-port", str(port))
        conf.set_string("rest.port", str(port))
        # the REST handlers serve metrics from a cache refreshed every 10 s by default
        conf.set_string("metrics.fetcher.update-interval", "2000")
        return original(conf)

    StreamExecutionEnvironment.get_execution_environment = staticmethod(get_execution_environment)


def run_sql_job(spec: dict[str, Any]) -> None:
    """(a) Kafka -> Kafka in Flink SQL, raw format, no Python operator."""
    from pyflink.common import Configuration
    from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    jars = sorted(CONNECTOR_DIR.glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise SystemExit(f"no Kafka connector jar in {CONNECTOR_DIR}: run scripts/bootstrap.sh")
    conf = Configuration()
    conf.set_string("pipeline.jars", ";".join(j.as_uri() for j in jars))
    conf.set_string("restart-strategy.type", "none")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(spec["parallelism"])
    env.enable_checkpointing(spec["checkpoint_interval_ms"], CheckpointingMode.EXACTLY_ONCE)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE src (payload BYTES) WITH (
          'connector' = 'kafka', 'topic' = '{spec["raw"]}',
          'properties.bootstrap.servers' = '{spec["bootstrap"]}',
          'properties.group.id' = '{spec["group"]}',
          'properties.isolation.level' = 'read_committed',
          'scan.startup.mode' = 'group-offsets', 'properties.auto.offset.reset' = 'earliest',
          'format' = 'raw')""")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE snk (payload BYTES) WITH (
          'connector' = 'kafka', 'topic' = '{spec["topics"]["out"]}',
          'properties.bootstrap.servers' = '{spec["bootstrap"]}',
          'sink.delivery-guarantee' = 'at-least-once',
          'format' = 'raw')""")
    t_env.execute_sql("INSERT INTO snk SELECT * FROM src").wait()


def run_full_job(spec: dict[str, Any]) -> None:
    """(c) the real job, through its public entry point only."""
    from jobs.flink_job import build_kafka_job
    from schemas.config import JobConfig, Topics

    topics = spec["topics"]
    kwargs: dict[str, Any] = {
        "bootstrap_servers": spec["bootstrap"],
        "topics": Topics(
            raw=(spec["raw"],),
            alerts=topics["alerts"],
            signals=topics["signals"],
            dead_letter=topics["dead"],
            late=topics["late"],
        ),
        "consumer_group": spec["group"],
        "transactional_id_prefix": spec["group"],
        "parallelism": spec["parallelism"],
        "checkpoint_interval_ms": spec["checkpoint_interval_ms"],
        "out_of_orderness_ms": spec["out_of_orderness_ms"],
        "python_execution_mode": spec["mode"],
    }
    if "checkpoint_dir" in {f.name for f in dataclasses.fields(JobConfig)}:
        kwargs["checkpoint_dir"] = spec["checkpoint_dir"]  # local runs: state off the JobManager heap
    if not spec.get("baselines", True):
        kwargs["baseline_half_life_ms"] = None  # --no-baselines
    build_kafka_job(JobConfig(**kwargs)).execute("ttpflow (bench_throughput)")


def run_job(spec: dict[str, Any]) -> None:
    if spec.get("python_workers") == "process":
        # PyFlink's own switch (read when the job is submitted): separate Python worker processes, as
        # on a cluster, instead of the loopback workers inside this process
        os.environ["_python_worker_execution_mode"] = "process"  # noqa: SIM112 - PyFlink spells it so
    if spec.get("rest_port"):
        _pin_rest_port(spec["rest_port"])
    if spec["kind"] == "sql":
        run_sql_job(spec)
    elif spec["kind"] == "identity":
        bench_pipeline.run_identity_job(
            spec["bootstrap"], spec["raw"], spec["topics"]["out"], spec["mode"], parallelism=spec["parallelism"]
        )
    else:
        run_full_job(spec)


# == watching a running job ==========================================================================


def _proc_tree(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (ppid, argv0 base name) for ``root`` and its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    out = {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0", 1)[0].decode("utf-8", "replace")
        except OSError:
            continue
        out[pid] = (parents.get(pid, 0), os.path.basename(argv0))
    return out


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


@dataclass
class Sample:
    t_ms: int
    vertices: dict[str, dict[str, Any]]  # vertex id -> accumulated time (ms, all subtasks); "<key>.subtasks"
    cpu: dict[str, float]  # "python" / "jvm" -> CPU seconds so far


@dataclass
class Monitor:
    """Polls the MiniCluster's REST API and /proc while one job runs (a background thread)."""

    rest_port: int | None
    root_pid: int
    interval_s: float = 2.0
    samples: list[Sample] = field(default_factory=list)
    job_id: str | None = None
    job_state: str | None = None
    vertex_names: dict[str, str] = field(default_factory=dict)
    vertex_parallelism: dict[str, int] = field(default_factory=dict)
    vertex_status: dict[str, str] = field(default_factory=dict)
    checkpoints: dict[str, Any] | None = None
    rest_error: str | None = None
    rest_answered: bool = False
    _cpu_last: dict[int, tuple[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.fetch_checkpoints()

    def _get(self, path: str, timeout: float = 3.0) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}{path}", timeout=timeout) as resp:
            return json.loads(resp.read())

    def fetch_checkpoints(self) -> None:
        if self.rest_port is None or self.job_id is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.checkpoints = self._get(f"/jobs/{self.job_id}/checkpoints")

    def _loop(self) -> None:
        polls = 0
        while not self._stop.is_set():
            started = time.monotonic()
            vertices = self._poll_rest() if self.rest_port else {}
            polls += 1
            if polls % 5 == 0:
                self.fetch_checkpoints()
            self.samples.append(Sample(int(time.time() * 1000), vertices, self._poll_cpu()))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _poll_rest(self) -> dict[str, dict[str, Any]]:
        try:
            if self.job_id is None or self.job_state not in ("RUNNING", "CREATED", "INITIALIZING", None):
                jobs = self._get("/jobs/overview").get("jobs", [])
                running = [j for j in jobs if j.get("state") == "RUNNING"] or jobs
                if not running:
                    return {}
                self.job_id = max(running, key=lambda j: j.get("start-time", 0))["jid"]
            job = self._get(f"/jobs/{self.job_id}")
            self.rest_answered = True
            self.job_state = job.get("state")
            out: dict[str, dict[str, Any]] = {}
            for vertex in job.get("vertices", []):
                vid = vertex["id"]
                self.vertex_names[vid] = vertex.get("name", vid)
                self.vertex_parallelism[vid] = int(vertex.get("parallelism", 1))
                self.vertex_status[vid] = vertex.get("status", "")
                values: dict[str, Any] = _times(vertex.get("metrics") or {})  # summed over subtasks
                if self.vertex_parallelism[vid] > 1:  # the busiest subtask: one more request
                    detail = self._get(f"/jobs/{self.job_id}/vertices/{vid}")
                    subtasks = [_times(st.get("metrics") or {}) for st in detail.get("subtasks", [])]
                    for key in TIME_KEYS:
                        values[key + ".subtasks"] = [st.get(key) for st in subtasks]
                out[vid] = values
            return out
        except (OSError, ValueError, KeyError) as exc:
            if not self.rest_answered:
                self.rest_error = f"{type(exc).__name__}: {exc}"
            return {}

    def _poll_cpu(self) -> dict[str, float]:
        # Local PyFlink runs the Python workers in loopback mode: inside the driver process (the root),
        # which otherwise only waits for the job; the beam_boot child stays idle.
        for pid, (_ppid, name) in _proc_tree(self.root_pid).items():
            cpu = _cpu_seconds(pid)
            if cpu is None:
                continue
            kind = "python" if name.startswith("python") else "jvm" if name == "java" else "other"
            self._cpu_last[pid] = (kind, cpu)
        totals: dict[str, float] = Counter()
        for kind, cpu in self._cpu_last.values():
            totals[kind] += cpu
        return dict(totals)

    # -- summaries over a window [t0_ms, t1_ms] --

    def bracket(self, t0_ms: int, t1_ms: int, *, rest: bool) -> tuple[Sample, Sample] | None:
        """The last sample at or before t0 and the first at or after t1 (or the nearest there are)."""
        samples = [s for s in self.samples if s.vertices] if rest else self.samples
        if len(samples) < 2:
            return None
        before = [s for s in samples if s.t_ms <= t0_ms]
        after = [s for s in samples if s.t_ms >= t1_ms]
        a = before[-1] if before else samples[0]
        b = after[0] if after else samples[-1]
        return (a, b) if b.t_ms > a.t_ms else None

    def vertex_table(self, t0_ms: int, t1_ms: int) -> list[dict[str, Any]]:
        """Per vertex: busy / backpressured ms per second (avg over subtasks, and the busiest) over the window."""
        pair = self.bracket(t0_ms, t1_ms, rest=True)
        if pair is None:
            return []
        a, b = pair
        seconds = (b.t_ms - a.t_ms) / 1000
        rows = []
        for vid, name in self.vertex_names.items():
            va, vb = a.vertices.get(vid, {}), b.vertices.get(vid, {})

            def rate(key: str, va: dict[str, Any] = va, vb: dict[str, Any] = vb) -> float | None:
                if key not in vb:
                    return None
                # a task still initializing reports no busy time (NaN): its total starts from 0
                va = va if key in va else {key: 0.0}
                # Flink derives busy time from the idle and back-pressured times: a few ms backwards on
                # a vertex that did next to nothing is noise, not work
                return max(0.0, vb[key] - va[key]) / seconds

            def busiest(key: str, va: dict[str, Any] = va, vb: dict[str, Any] = vb) -> float | None:
                after = vb.get(key + ".subtasks", [])
                before = va.get(key + ".subtasks") or [0.0] * len(after)
                pairs = zip(before, after, strict=False)
                deltas = [max(0.0, y - (x or 0.0)) / seconds for x, y in pairs if y is not None]
                return max(deltas) if deltas else None

            subtasks = self.vertex_parallelism.get(vid, 1)
            busy, bp = rate("accumulated-busy-time"), rate("accumulated-backpressured-time")
            rows.append({
                "vertex": name,
                "subtasks": subtasks,
                "busy": busy / subtasks if busy is not None else None,
                "busy_max": busiest("accumulated-busy-time"),
                "backpressured": bp / subtasks if bp is not None else None,
                "backpressured_max": busiest("accumulated-backpressured-time"),
                "busy_ms_total": busy * seconds if busy is not None else None,
            })
        return rows

    def cpu_between(self, t0_ms: int, t1_ms: int) -> dict[str, float] | None:
        """CPU seconds per process kind between the samples bracketing the window."""
        pair = self.bracket(t0_ms, t1_ms, rest=False)
        if pair is None:
            return None
        a, b = pair
        return {k: b.cpu.get(k, 0.0) - a.cpu.get(k, 0.0) for k in set(a.cpu) | set(b.cpu)}


# == one measured run ================================================================================


@dataclass
class Run:
    kind: str
    parallelism: int
    events: int
    expected: int  # records expected on the timed topic
    count: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    elapsed_s: float = 0.0
    status: str = "ok"  # ok | timeout | failed | idle
    log_tail: str = ""
    monitor: Monitor | None = None
    alerts: list[Any] = field(default_factory=list)
    dead: int = 0
    late: int = 0

    @property
    def span_s(self) -> float:
        return max(((self.last_ms or 0) - (self.first_ms or 0)) / 1000, 1e-3)

    @property
    def processed(self) -> float:
        """Input events behind the output seen (all of them when every output record came)."""
        return self.events * min(1.0, self.count / max(1, self.expected))

    @property
    def rate(self) -> float | None:
        return self.processed / self.span_s if self.count > 1 else None


def _die_with_parent():
    """A preexec_fn: Linux sends the job's driver SIGTERM when this process ends (its gateway JVM and
    Python workers follow it), so an interrupted benchmark leaves no job behind."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def set_signal() -> None:
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return set_signal


class JobProcess:
    """One job in its own Python process (own PyFlink gateway JVM and MiniCluster), own process group."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - read by tail(), gone with the object
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--run-job", json.dumps(spec)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent(),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # the group may hold the JVM or Python workers still
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, chars: int = 2500) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]


SCRATCH: list[str] = []  # temporary folders of this run, removed at its end


def _scratch(prefix: str) -> str:
    path = tempfile.mkdtemp(prefix=prefix)
    SCRATCH.append(path)
    return path


def output_topics(bootstrap: str, kind: str, parallelism: int) -> dict[str, str]:
    sfx = uuid.uuid4().hex[:6]
    names = ("out",) if kind not in FULL_KINDS else ("signals", "alerts", "dead", "late")
    topics = {n: f"bench-tp-{kind}{parallelism}-{n}-{sfx}" for n in names}
    for name in topics.values():
        # LogAppendTime: the broker stamps write time (the job stamps its records with event time)
        create_kafka_topic(bootstrap, name, configs={"message.timestamp.type": "LogAppendTime"})
    return topics


def job_spec(args: argparse.Namespace, kind: str, bootstrap: str, raw: str, parallelism: int,
             topics: dict[str, str], *, checkpoint_interval_s: float, rest: bool) -> dict[str, Any]:
    return {
        "kind": kind,
        "bootstrap": bootstrap,
        "raw": raw,
        "topics": topics,
        "parallelism": parallelism,
        "group": f"bench-{kind}-{uuid.uuid4().hex[:8]}",
        "mode": args.python_execution_mode,
        "checkpoint_interval_ms": int(checkpoint_interval_s * 1000),
        "out_of_orderness_ms": int(args.out_of_orderness * 1000),
        "checkpoint_dir": _scratch("ttpflow-bench-ckpt-"),
        "rest_port": free_port() if rest else None,
        "python_workers": args.python_workers,
        "baselines": kind != "full-nobase",
    }


def measure(args: argparse.Namespace, kind: str, bootstrap: str, raw: str, parallelism: int,
            events: int, expected: int) -> Run:
    topics = output_topics(bootstrap, kind, parallelism)
    spec = job_spec(args, kind, bootstrap, raw, parallelism, topics,
                    checkpoint_interval_s=args.checkpoint_interval, rest=not args.no_rest)
    timed_topic = topics["out"] if kind not in FULL_KINDS else topics["signals"]
    run = Run(kind, parallelism, events, expected)
    print(f"[{kind} p={parallelism}] start (timeout {args.timeout:.0f} s)", file=sys.stderr, flush=True)
    job = JobProcess(spec)
    monitor = Monitor(spec["rest_port"], job.pid)
    monitor.start()
    started = time.monotonic()
    try:
        run.count, run.first_ms, run.last_ms = count_and_window(
            bootstrap, timed_topic, expected, args.timeout, alive=job.alive,
            idle_s=args.idle_timeout if kind in FULL_KINDS else None,
        )
        run.elapsed_s = time.monotonic() - started
        time.sleep(monitor.interval_s + 0.5)  # one more sample after the last output record
        if run.count < expected:
            run.status = "failed" if not job.alive() else ("idle" if run.elapsed_s < args.timeout else "timeout")
        if kind in FULL_KINDS and job.alive():
            # alerts, dead letters and late records are transactions: wait for the next checkpoint
            time.sleep(args.checkpoint_interval + 5)
            run.alerts = consume_from_kafka(bootstrap, topics["alerts"], timeout_s=30)
            run.dead = len(consume_from_kafka(bootstrap, topics["dead"], timeout_s=15))
            run.late = len(consume_from_kafka(bootstrap, topics["late"], timeout_s=15))
    finally:
        monitor.stop()
        job.stop()
    run.monitor = monitor
    if run.status != "ok":
        run.log_tail = job.tail()
    rate = f"{run.rate:,.0f} ev/s" if run.rate else "-"
    print(f"[{kind} p={parallelism}] {run.status}: {run.count:,}/{expected:,} in {run.elapsed_s:.0f} s, {rate}",
          file=sys.stderr, flush=True)
    if run.status in ("failed", "timeout", "idle"):
        print(run.log_tail, file=sys.stderr)
    return run


# == latency =========================================================================================


@dataclass
class Latency:
    parallelism: int
    rate: float
    checkpoint_interval_s: float
    out_of_orderness_s: float
    measured: int = 0  # planted sequences completed inside the measured window
    found: int = 0
    visible: list[float] = field(default_factory=list)  # s, read_committed receive - send
    written: list[float] = field(default_factory=list)  # s, alert record write time - send
    after_watermark: list[float] = field(default_factory=list)  # s, receive - send of the watermark mover
    status: str = "ok"
    note: str = ""
    missing: list[str] = field(default_factory=list)  # planted sequences measured but never alerted


class AlertReader(threading.Thread):
    """read_committed consumer of the alerts and signals topics, stamping receive times."""

    def __init__(self, bootstrap: str, alerts: str, signals: str) -> None:
        super().__init__(name="alerts", daemon=True)
        self.bootstrap, self.topics = bootstrap, (alerts, signals)
        self.alerts: list[tuple[float, int, bytes]] = []  # (receive time s, record timestamp ms, value)
        self.first_signal: float | None = None
        self.stop_flag = threading.Event()

    def run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed", group_id=None,
        )
        tps = [TopicPartition(t, 0) for t in self.topics]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        try:
            while not self.stop_flag.is_set():
                for tp, records in consumer.poll(timeout_ms=100).items():
                    now = time.time()
                    if tp.topic == self.topics[1]:
                        self.first_signal = self.first_signal or now
                        continue
                    self.alerts.extend((now, r.timestamp, r.value) for r in records)
        finally:
            consumer.close()


def measure_latency(args: argparse.Namespace, bootstrap: str, parallelism: int, rate: float) -> Latency:
    from kafka import KafkaProducer

    ooo_s = args.out_of_orderness
    result = Latency(parallelism, rate, args.latency_checkpoint_interval, ooo_s)
    warmup_s, tail_s, startup_cap_s = 15.0, 15.0, 90.0
    n = int(rate * (startup_cap_s + warmup_s + args.latency_seconds + ooo_s + tail_s)) + 1
    raw = f"bench-lat-raw-{uuid.uuid4().hex[:6]}"
    create_kafka_topic(bootstrap, raw, partitions=parallelism)
    topics = output_topics(bootstrap, "full", parallelism)
    spec = job_spec(args, "full", bootstrap, raw, parallelism, topics,
                    checkpoint_interval_s=args.latency_checkpoint_interval, rest=False)
    print(f"[latency p={parallelism}] {rate:,.0f} ev/s, checkpoints every {args.latency_checkpoint_interval:g} s",
          file=sys.stderr, flush=True)
    job = JobProcess(spec)  # starts while the mix is built
    reader = AlertReader(bootstrap, topics["alerts"], topics["signals"])
    reader.start()
    # event time = wall clock at sending: the mix is stamped for a start a little after it is built
    jitter_ms = 1000
    start = time.time() + 10 + n * 1.5e-4
    built = mix.build_mix(
        n, args.hosts, args.seed + 1, t0_ms=int(start * 1000) - jitter_ms, rate=rate, jitter_ms=jitter_ms,
        planted_every=max(20, int(rate / 2)), gap_ms=(2_000, 10_000),
    )
    completing = {p.last: _sha(built.events[p.last]) for p in built.planted}
    rules = {p.last: p.rule_id for p in built.planted}
    hosts = {p.last: p.host for p in built.planted}
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    sent_at: dict[int, float] = {}
    send_times: list[float] = []
    window: tuple[float, float] | None = None
    try:
        time.sleep(max(0.0, start - time.time()))
        for i, payload in enumerate(built.events):
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            producer.send(raw, payload)
            now = time.time()
            send_times.append(now)
            if i in completing:
                sent_at[i] = now
            if window is None and reader.first_signal is not None:
                w0 = max(reader.first_signal, now) + warmup_s
                window = (w0, w0 + args.latency_seconds)
            if window is not None and now > window[1] + ooo_s + tail_s:
                break
            if window is None and now - start > startup_cap_s:
                result.status, result.note = "failed", "no signal within the start-up allowance"
                break
            if not job.alive():
                result.status, result.note = "failed", "the job exited"
                break
        producer.flush(30)
        deadline = time.time() + args.latency_checkpoint_interval + 20
        while time.time() < deadline and job.alive():
            time.sleep(0.5)
    finally:
        producer.close(10)
        reader.stop_flag.set()
        reader.join(10)
        job.stop()
    if result.status != "ok":
        result.note += ": " + _last_error(job.tail(6000))
        print(f"[latency p={parallelism}] {result.status}: {result.note}\n{job.tail()}", file=sys.stderr)
        return result
    print(f"[latency p={parallelism}] done, {len(reader.alerts)} alerts read", file=sys.stderr, flush=True)
    assert window is not None
    by_sha: dict[tuple[str, str], tuple[float, int]] = {}  # (evidence sha, rule) -> first alert with it
    for received, written_ms, value in reader.alerts:
        with contextlib.suppress(ValueError):
            alert = json.loads(value)
            for ev in alert.get("evidence", []):
                by_sha.setdefault((ev.get("raw_sha256"), alert.get("rule_id")), (received, written_ms))
    times = built.times
    for i, sha in completing.items():
        sent = sent_at.get(i)
        if sent is None or not window[0] <= sent <= window[1]:
            continue
        result.measured += 1
        hit = by_sha.get((sha, rules[i]))
        if hit is None:
            result.missing.append(f"{rules[i]} on {hosts[i]}, completing event {sha} at {times[i]} ms")
            continue
        received, written_ms = hit
        result.found += 1
        result.visible.append(received - sent)
        result.written.append(written_ms / 1000 - sent)
        # the first event sent after i whose event time moves the watermark past event i's
        need = times[i] + int(ooo_s * 1000) + 1
        mover = next((j for j in range(i + 1, len(send_times)) if times[j] >= need), None)
        if mover is not None:
            result.after_watermark.append(received - send_times[mover])
    return result


# == report ==========================================================================================


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def rate_cell(run: Run | None) -> str:
    if run is None:
        return "(not run)"
    if run.rate is None:
        return f"{run.status}: no output"
    cell = fmt(run.rate)
    if run.status != "ok":
        cell += f" ({run.status}: {run.count:,}/{run.expected:,} in {run.elapsed_s:.0f} s)"
    return cell


def cpu_us(run: Run) -> tuple[float | None, float | None, float | None]:
    """(Python worker CPU µs/event, JVM CPU µs/event, busy µs/event summed over all vertices), over the
    samples bracketing the measured window, per input event behind the output seen."""
    if run.monitor is None or run.first_ms is None or run.last_ms is None or not run.processed:
        return None, None, None
    py = jvm = busy = None
    cpu = run.monitor.cpu_between(run.first_ms, run.last_ms)
    if cpu is not None:
        py = cpu.get("python", 0.0) / run.processed * 1e6
        jvm = cpu.get("jvm", 0.0) / run.processed * 1e6
    rows = run.monitor.vertex_table(run.first_ms, run.last_ms)
    if rows:
        totals = [r["busy_ms_total"] for r in rows if r["busy_ms_total"] is not None]
        busy = sum(totals) * 1000 / run.processed if totals else None
    return py, jvm, busy


def report(args: argparse.Namespace, argv: list[str], stats: mix.MixStats, built: mix.Mix,
           runs: dict[tuple[str, int], Run], latency: Latency | None, notes: list[str]) -> str:
    lines = [f"`{' '.join(shlex.quote(a) for a in argv)}`", ""]
    planted = Counter(p.rule_id for p in built.planted)
    lines.append(
        f"Mix (bench/mix.py, seed {args.seed}): {stats.events:,} events over {args.hosts:,} hosts from "
        f"../shared/samples; {stats.hit_events / max(1, stats.events):.1%} of events give a technique hit "
        f"({stats.hits:,} signals), {stats.fact_events / max(1, stats.events):.1%} carry binding facts "
        f"({stats.ip_fact_events / max(1, stats.events):.1%} host<->address); "
        f"{len(built.planted)} planted sequences ({', '.join(f'{v} {k}' for k, v in planted.items())}). "
        f"{os.cpu_count()} cores; PyFlink {args.python_execution_mode} mode, {args.python_workers} Python "
        f"workers; checkpoints every "
        f"{args.checkpoint_interval:g} s; one run."
    )
    lines += ["", "| parallelism | SQL only ev/s | identity Python map (ceiling) ev/s | ttpflow ev/s | "
              "ttpflow / ceiling | ttpflow Python CPU µs/event |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in args.parallelism:
        sql, ident, full = (runs.get((k, p)) for k in ("sql", "identity", "full"))
        ratio = full.rate / ident.rate if full and ident and full.rate and ident.rate else None
        partial = " (partial)" if ratio is not None and (full.status != "ok" or ident.status != "ok") else ""
        py = cpu_us(full)[0] if full else None
        lines.append(f"| {p} | {rate_cell(sql)} | {rate_cell(ident)} | {rate_cell(full)} | "
                     f"{fmt(ratio, '.2f')}{partial} | {fmt(py)} |")
    if any(k == "full-nobase" for k, _ in runs):  # adaptive baselines on and off, side by side
        lines += ["", "| parallelism | ttpflow ev/s | ttpflow --no-baselines ev/s |", "| ---: | ---: | ---: |"]
        lines += [f"| {p} | {rate_cell(runs.get(('full', p)))} | {rate_cell(runs.get(('full-nobase', p)))} |"
                  for p in args.parallelism]
    lines += ["", "CPU per input event, each run (over its measured window):", "",
              "| parallelism | run | Python workers CPU µs/event | JVM CPU µs/event | busy µs/event, all vertices |",
              "| ---: | --- | ---: | ---: | ---: |"]
    for p in args.parallelism:
        for kind in KINDS:
            run = runs.get((kind, p))
            if run is not None:
                py, jvm, busy = cpu_us(run)
                lines.append(f"| {p} | {KIND_TITLES[kind]} | {fmt(py)} | {fmt(jvm)} | {fmt(busy)} |")
    lines += ["", "Per vertex, full job (REST, averaged over the measured window; avg over subtasks, "
              "busiest subtask in brackets):", "",
              "| parallelism | vertex | subtasks | busy ms/s | backpressured ms/s |",
              "| ---: | --- | ---: | ---: | ---: |"]
    rest_notes = []
    for p in args.parallelism:
        full = runs.get(("full", p))
        if full is None or full.monitor is None:
            continue
        mon = full.monitor
        rows = mon.vertex_table(full.first_ms or 0, full.last_ms or 0)
        if not rows:
            rest_notes.append(f"p={p}: no REST samples ({mon.rest_error or 'no job seen'})")
        for r in rows:
            name = r["vertex"] if len(r["vertex"]) <= 90 else r["vertex"][:87] + "..."
            name = name.replace("|", "/")
            busy, bp = fmt(r["busy"]), fmt(r["backpressured"])
            if r["subtasks"] > 1:
                busy, bp = f"{busy} ({fmt(r['busy_max'])})", f"{bp} ({fmt(r['backpressured_max'])})"
            lines.append(f"| {p} | {name} | {r['subtasks']} | {busy} | {bp} |")
    lines += ["", "Checkpoints, full job (REST `/jobs/<id>/checkpoints`):", "",
              "| parallelism | completed | failed | end-to-end ms avg / max | checkpointed size avg / max | "
              "state size, latest |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in args.parallelism:
        full = runs.get(("full", p))
        ck = full.monitor.checkpoints if full and full.monitor else None
        if not ck:
            lines.append(f"| {p} | - | - | - | - | - |")
            continue
        counts, summary = ck.get("counts", {}), ck.get("summary", {})
        dur = summary.get("end_to_end_duration", {})
        size = summary.get("checkpointed_size", {})
        latest = ((ck.get("latest") or {}).get("completed") or {})
        lines.append(f"| {p} | {counts.get('completed', 0)} | {counts.get('failed', 0)} | "
                     f"{fmt(dur.get('avg'))} / {fmt(dur.get('max'))} | {_bytes(size.get('avg'))} / "
                     f"{_bytes(size.get('max'))} | {_bytes(latest.get('state_size'))} |")
    lines += ["", "Alerts, full job (read_committed after the last signal and one more checkpoint):", ""]
    expected = mix.expected_alerts(built, int(args.out_of_orderness * 1000))
    wanted = {_sha(built.events[p.last]): p.rule_id for p in expected}
    for p in args.parallelism:
        full = runs.get(("full", p))
        if full is None:
            continue
        by_rule: Counter = Counter()
        found = set()
        for record in full.alerts:
            with contextlib.suppress(ValueError):
                alert = json.loads(record.value)
                by_rule[alert.get("rule_id")] += 1
                for ev in alert.get("evidence", []):
                    if wanted.get(ev.get("raw_sha256")) == alert.get("rule_id"):
                        found.add(ev.get("raw_sha256"))
        if full.status == "failed":
            lines.append(f"- p={p}: the job exited before the end of the input; alerts not read. Its log ends: "
                         f"`{_last_error(full.log_tail)}`")
            continue
        unalerted = [f"{q.rule_id} on {q.host}" for q in expected if _sha(built.events[q.last]) not in found]
        if unalerted:
            lines.append(f"- p={p}: no alert for {len(unalerted)} planted sequence(s) the watermark passed: "
                         + "; ".join(unalerted[:5]) + ("; ..." if len(unalerted) > 5 else ""))
        lines.append(f"- p={p}: planted sequences alerted {len(found)}/{len(expected)} (those the watermark "
                     f"passes by the end of the input; {len(built.planted)} planted); alerts by rule: "
                     f"{dict(by_rule) or 'none'}; dead letters {full.dead}; late {full.late}")
    if latency is not None:
        how = "--latency-rate" if args.latency_rate else "half the measured full-job throughput"
        lines += ["", f"Event-to-alert latency (full job, p={latency.parallelism}, fixed input rate "
                  f"{latency.rate:,.0f} ev/s = {how}, event time = wall clock; "
                  f"checkpoints every {latency.checkpoint_interval_s:g} s; out-of-orderness "
                  f"{latency.out_of_orderness_s:g} s; {args.latency_seconds:g} s measured):", "",
                  "| planted sequences measured | alerted | visible p50 | visible p99 | written p50 | "
                  "written p99 | after the watermark p50 | after the watermark p99 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        if latency.status != "ok":
            lines.append(f"| {latency.status}: {latency.note.splitlines()[0] if latency.note else ''} "
                         "| | | | | | | |")
        else:
            cells = [fmt(pct(v, q), ".2f", " s") for v in (latency.visible, latency.written,
                                                            latency.after_watermark) for q in (0.5, 0.99)]
            lines.append(f"| {latency.measured} | {latency.found} | " + " | ".join(cells) + " |")
            if latency.missing:
                lines += ["", f"No alert for {len(latency.missing)} measured planted sequence(s): "
                          + "; ".join(latency.missing[:5]) + ("; ..." if len(latency.missing) > 5 else "")]
    lines += ["", "Definitions: ev/s = input events / (last - first output record write time), start-up "
              "excluded; the full job is timed on its signals topic. Python CPU µs/event = CPU time "
              "(/proc utime+stime) of the job's Python processes (with loopback workers, PyFlink's default "
              "for a local job, all of them run inside the job's driver process) over the measured window / events "
              "in it; JVM the same for the MiniCluster JVM (sources, sinks, SQL operators, Python "
              "transport). busy µs/event = accumulated busy time of all vertices over the window / input events: "
              "operator chains mix Java and Python, so it bounds the Python share from above. Latency: "
              "visible = a read_committed consumer receives the alert (includes the checkpoint that "
              "commits it); written = the alert record's broker write time (LogAppendTime, before the "
              "commit); after the watermark = from the send of the first event whose event time moved "
              "the watermark past the completing event."]
    for note in notes + rest_notes:
        lines.append(f"- {note}")
    return "\n".join(lines)


def _last_error(log: str) -> str:
    """The deepest cause a job's log names (``Caused by: ...``, ``SomeError: ...``), else its last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.strip().startswith(("at ", "..."))]
    causes = [ln for ln in lines if ln.startswith("Caused by:")]
    named = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
    return ((causes or named or lines or ["(no output)"])[-1])[:300].replace("`", "'")


def _sha(payload: bytes) -> str:
    from udfs.normalize.rawjson import raw_sha256

    return raw_sha256(payload)


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return "-"


# == main ============================================================================================


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", default="sql,identity,full", help="which of sql,identity,full,full-nobase to measure "
                        "(full-nobase: the full job under --no-baselines)")
    parser.add_argument("--timeout", type=float, default=900, help="per measured run (s), start-up included")
    parser.add_argument("--idle-timeout", type=float, default=120,
                        help="full job: stop waiting when no signal came for this long (s)")
    parser.add_argument("--checkpoint-interval", type=float, default=10, help="throughput runs (s); the job's default")
    parser.add_argument("--out-of-orderness", type=float, default=60, help="the job's watermark bound (s)")
    parser.add_argument("--python-execution-mode", default="process", choices=("process", "thread"))
    parser.add_argument("--python-workers", default="loopback", choices=("loopback", "process"),
                        help="where PyFlink runs the Python workers of a local job: loopback (its default, "
                        "what `ttpflow run` does: threads of the job's own Python process, one GIL for "
                        "all subtasks) or process (one worker process per Python task, as on a cluster)")
    parser.add_argument("--latency-seconds", type=float, default=60, help="measured window of the latency run (s)")
    parser.add_argument("--latency-checkpoint-interval", type=float, default=1, help="latency run (s)")
    parser.add_argument("--latency-parallelism", type=int, help="default: the first --parallelism")
    parser.add_argument("--latency-rate", type=float, help="input rate of the latency run (default: half the "
                        "measured full-job throughput)")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-rest", action="store_true", help="do not poll the MiniCluster's REST API")
    parser.add_argument("--bootstrap-servers", help="use this broker instead of starting one")
    parser.add_argument("--write-mix", type=Path, help="also write the mix as JSON lines")
    parser.add_argument("--run-job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_job:
        run_job(json.loads(args.run_job))
        return
    kinds = [k for k in dict.fromkeys(args.runs.split(",")) if k in KINDS]  # in the order given
    signal.signal(signal.SIGTERM, _interrupt)  # run the finally blocks: stop the job and the broker
    command = [".venv/bin/python", "bench/bench_throughput.py", *argv]

    started = time.monotonic()
    print(f"building the mix ({args.events:,} events, {args.hosts:,} hosts)", file=sys.stderr, flush=True)
    built = mix.build_mix(args.events, args.hosts, args.seed)
    stats = mix.measure(built.events, built.hosts)
    for line in stats.lines():
        print(f"  {line}", file=sys.stderr)
    if args.write_mix:
        mix.write_jsonl(args.write_mix, built.events)

    broker = None
    bootstrap = args.bootstrap_servers
    notes: list[str] = []
    runs: dict[tuple[str, int], Run] = {}
    latency = None
    try:
        if not bootstrap:
            broker = LocalKafka(port=free_port(), controller_port=free_port(),
                                data_dir=Path(_scratch("ttpflow-bench-kafka-")), stop_with_parent=True)
            broker.start(timeout_s=120)
            bootstrap = broker.bootstrap_servers
        raw = f"bench-tp-raw-{uuid.uuid4().hex[:6]}"
        create_kafka_topic(bootstrap, raw, partitions=max(args.parallelism))
        produce(bootstrap, raw, built.events)
        for p in args.parallelism:
            for kind in kinds:
                expected = stats.hits if kind in FULL_KINDS else args.events
                runs[(kind, p)] = measure(args, kind, bootstrap, raw, p, args.events, expected)
        if not args.no_latency:
            p_lat = args.latency_parallelism or args.parallelism[0]
            full = runs.get(("full", p_lat))
            rate = args.latency_rate or (full.rate / 2 if full and full.rate else None)
            if rate:
                latency = measure_latency(args, bootstrap, p_lat, rate)
            else:
                notes.append("latency not measured: no full-job throughput at that parallelism (--latency-rate)")
    finally:
        if broker is not None:
            broker.stop()
        for path in SCRATCH:  # broker data and checkpoints: nothing of this run is kept
            shutil.rmtree(path, ignore_errors=True)
    for run in runs.values():
        if run.monitor is not None and run.monitor.rest_port and not run.monitor.rest_answered:
            notes.append(f"{run.kind} p={run.parallelism}: the MiniCluster REST API did not answer "
                         f"({run.monitor.rest_error}); its columns are empty")
    notes.append(f"total bench time {time.monotonic() - started:.0f} s")
    print()
    print(report(args, command, stats, built, runs, latency, notes))


if __name__ == "__main__":
    main()
