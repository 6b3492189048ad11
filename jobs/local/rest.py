"""Reading a Flink cluster's REST API: what ``ttpflow status`` and ``ttpflow cluster status`` print.

No pyflink here: the logic takes a ``fetch(path) -> JSON`` function, so tests run it on recorded
answers of a real cluster (tests/fixtures/flink_rest/) and the command on ``http_fetch``.

Endpoints read (Flink 2.2): ``/jobs/overview``, ``/jobs/:id`` (vertices, the JobManager's ``now``),
``/jobs/:id/vertices/:vid/subtasks/metrics`` (records in/out per second, busy and back-pressured
time, summed or averaged over subtasks), ``/jobs/:id/vertices/:vid/backpressure``,
``/jobs/:id/vertices/:vid/watermarks`` (``<subtask>.currentInputWatermark``),
``/jobs/:id/checkpoints`` and ``/taskmanagers``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from udfs.errors import TtpflowError

Fetch = Callable[[str], Any]

# Flink reports "no watermark yet" as Long.MIN_VALUE (a source, or an operator before its first one).
NO_WATERMARK = -(2**63)
VERTEX_METRICS = ("numRecordsInPerSecond", "numRecordsOutPerSecond", "busyTimeMsPerSecond",
                  "backPressuredTimeMsPerSecond")


class RestError(TtpflowError):
    """The REST API did not answer, or answered something else than a Flink JobManager would."""


def http_fetch(base_url: str, timeout_s: float = 5.0) -> Fetch:
    def fetch(path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=timeout_s) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as err:
            raise RestError(f"{base_url}{path}: HTTP {err.code}") from None
        except (urllib.error.URLError, OSError) as err:
            raise RestError(f"no Flink REST API at {base_url} ({getattr(err, 'reason', err)})") from None
        except ValueError:
            raise RestError(f"{base_url}{path}: not JSON") from None

    return fetch


@dataclass(frozen=True)
class VertexStatus:
    id: str
    name: str
    parallelism: int
    status: str
    records_in_per_s: float | None
    records_out_per_s: float | None
    busy_ratio: float | None  # share of time busy, averaged over subtasks (0..1)
    backpressured_ratio: float | None  # share of time back-pressured (0..1), max over subtasks
    backpressure: str | None  # Flink's level: ok / low / high
    watermark_ms: int | None  # the lowest current input watermark over subtasks; None: none yet
    watermark_lag_ms: int | None  # now - watermark_ms


@dataclass(frozen=True)
class CheckpointStatus:
    completed: int
    failed: int
    in_progress: int
    latest_id: int | None = None
    latest_age_ms: int | None = None  # now - the latest completed checkpoint's last acknowledgement
    latest_duration_ms: int | None = None  # its end-to-end duration
    latest_state_size: int | None = None  # full state size
    latest_checkpointed_size: int | None = None  # what this checkpoint wrote (incremental)
    latest_path: str | None = None
    last_failure: str | None = None


@dataclass(frozen=True)
class JobStatus:
    id: str
    name: str
    state: str
    now_ms: int
    uptime_ms: int | None
    checkpoints: CheckpointStatus
    vertices: list[VertexStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskManagerStatus:
    id: str
    address: str
    slots: int
    free_slots: int
    last_heartbeat_ms: int | None  # epoch ms (Flink names it timeSinceLastHeartbeat)


def running_job_ids(fetch: Fetch) -> list[str]:
    jobs = fetch("/jobs/overview").get("jobs", [])
    return [j["jid"] for j in sorted(jobs, key=lambda j: j.get("start-time", 0)) if j.get("state") == "RUNNING"]


def job_status(fetch: Fetch, job_id: str, now_ms: int | None = None) -> JobStatus:
    """``now_ms`` (default: this machine's clock) is what ages and lags count to. Not the job's own
    ``now``: the REST API caches the job for a few seconds, so its ``now`` can be older than the latest
    checkpoint read a moment later."""
    job = fetch(f"/jobs/{job_id}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    start = job.get("start-time")
    vertices = [_vertex(fetch, job_id, v, now) for v in job.get("vertices", [])]
    return JobStatus(
        id=job_id,
        name=job.get("name", ""),
        state=job.get("state", "?"),
        now_ms=now,
        uptime_ms=max(0, now - int(start)) if start and start > 0 else None,
        checkpoints=_checkpoints(fetch(f"/jobs/{job_id}/checkpoints"), now),
        vertices=vertices,
    )


def _vertex(fetch: Fetch, job_id: str, vertex: dict[str, Any], now: int) -> VertexStatus:
    vid = vertex["id"]
    base = f"/jobs/{job_id}/vertices/{vid}"
    metrics = {m["id"]: m for m in fetch(f"{base}/subtasks/metrics?get={','.join(VERTEX_METRICS)}") or []}
    pressure = fetch(f"{base}/backpressure") or {}
    marks = [_int(w.get("value")) for w in fetch(f"{base}/watermarks") or []
             if str(w.get("id", "")).endswith("currentInputWatermark")]
    known = [m for m in marks if m is not None and m > NO_WATERMARK]
    # One subtask without a watermark holds the operator's watermark back: report none then.
    watermark = min(known) if known and len(known) == len(marks) else None
    busy = _metric(metrics, "busyTimeMsPerSecond", "avg")
    pressured = _metric(metrics, "backPressuredTimeMsPerSecond", "max")
    return VertexStatus(
        id=vid,
        name=vertex.get("name", ""),
        parallelism=int(vertex.get("parallelism", 0)),
        status=vertex.get("status", "?"),
        records_in_per_s=_metric(metrics, "numRecordsInPerSecond", "sum"),
        records_out_per_s=_metric(metrics, "numRecordsOutPerSecond", "sum"),
        busy_ratio=None if busy is None else busy / 1000,
        backpressured_ratio=None if pressured is None else pressured / 1000,
        # "deprecated" (no sample yet) and missing levels say nothing: None, not "ok".
        backpressure=pressure.get("backpressureLevel") if pressure.get("status") == "ok" else None,
        watermark_ms=watermark,
        watermark_lag_ms=None if watermark is None else max(0, now - watermark),
    )


def _checkpoints(data: dict[str, Any], now: int) -> CheckpointStatus:
    counts = data.get("counts", {})
    latest = (data.get("latest") or {}).get("completed") or None
    failed = (data.get("latest") or {}).get("failed") or None
    base = CheckpointStatus(completed=int(counts.get("completed", 0)), failed=int(counts.get("failed", 0)),
                            in_progress=int(counts.get("in_progress", 0)),
                            last_failure=(failed or {}).get("failure_message"))
    if not latest:
        return base
    acked = _int(latest.get("latest_ack_timestamp"))
    return CheckpointStatus(
        completed=base.completed, failed=base.failed, in_progress=base.in_progress, last_failure=base.last_failure,
        latest_id=_int(latest.get("id")),
        latest_age_ms=max(0, now - acked) if acked and acked > 0 else None,
        latest_duration_ms=_int(latest.get("end_to_end_duration")),
        latest_state_size=_int(latest.get("state_size")),
        latest_checkpointed_size=_int(latest.get("checkpointed_size")),
        latest_path=latest.get("external_path"),
    )


def task_managers(fetch: Fetch) -> list[TaskManagerStatus]:
    out = []
    for tm in fetch("/taskmanagers").get("taskmanagers", []):
        out.append(TaskManagerStatus(
            id=tm.get("id", ""),
            address=str(tm.get("path", "")),
            slots=int(tm.get("slotsNumber", 0)),
            free_slots=int(tm.get("freeSlots", 0)),
            last_heartbeat_ms=_int(tm.get("timeSinceLastHeartbeat")),
        ))
    return out


def _metric(metrics: dict[str, dict[str, Any]], name: str, agg: str) -> float | None:
    value = metrics.get(name, {}).get(agg)
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- formatting ---------------------------------------------------------------------------------


def format_jobs(jobs: list[JobStatus]) -> str:
    if not jobs:
        return "no running job"
    return "\n\n".join(_format_job(job) for job in jobs)


def _format_job(job: JobStatus) -> str:
    cp = job.checkpoints
    head = f"job {job.id}  {job.state}  {job.name}"
    if job.uptime_ms is not None:
        head += f"  up {duration(job.uptime_ms)}"
    if cp.latest_id is None:
        checkpoint = f"checkpoints: none completed yet ({cp.in_progress} in progress, {cp.failed} failed)"
    else:
        checkpoint = (
            f"checkpoint #{cp.latest_id}: {duration(cp.latest_age_ms)} ago, took {duration(cp.latest_duration_ms)}, "
            f"state {size(cp.latest_state_size)} (this one wrote {size(cp.latest_checkpointed_size)}); "
            f"{cp.completed} completed, {cp.failed} failed"
        )
    if cp.last_failure:
        checkpoint += f"; last failure: {cp.last_failure.splitlines()[0][:200]}"
    header = ("operator", "par", "in/s", "out/s", "backpressure", "busy", "watermark lag")
    rows = [header] + [
        (v.name if len(v.name) <= 48 else v.name[:45] + "...", str(v.parallelism), rate(v.records_in_per_s),
         rate(v.records_out_per_s), _pressure(v), percent(v.busy_ratio), duration(v.watermark_lag_ms))
        for v in job.vertices
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             .rstrip() for r in rows]
    return "\n".join([head, checkpoint, *lines])


def format_task_managers(tms: list[TaskManagerStatus]) -> str:
    if not tms:
        return "no TaskManager registered"
    return "\n".join(f"taskmanager {tm.id}  {tm.address}  slots {tm.free_slots}/{tm.slots} free" for tm in tms)


def _pressure(v: VertexStatus) -> str:
    if v.backpressure is None and v.backpressured_ratio is None:
        return "-"
    level = v.backpressure or "?"
    return level if v.backpressured_ratio is None else f"{level} {percent(v.backpressured_ratio)}"


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if abs(ms) < 1000:
        return f"{ms} ms"
    s = ms / 1000
    if abs(s) < 120:
        return f"{s:.1f} s"
    if abs(s) < 7200:
        return f"{s / 60:.1f} min"
    if abs(s) < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
