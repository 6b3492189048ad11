"""Which port each process of the local cluster serves its Prometheus metrics on.

The reporter takes the first free port of a range (``flink-conf/cluster/config.yaml``), so with other
Flink processes on the host (a second cluster, a test's) the JobManager need not be on 9249 nor a
TaskManager on 9250. Flink's REST API does not say; each process's log does ("Started
PrometheusReporter HTTP server on port N"), and a TaskManager's log names its resource id (its
working directory ``tm_<id>``), which the REST API lists: that ties a port to a TaskManager.
"""

from __future__ import annotations

import re
from pathlib import Path

_STARTED = re.compile(r"Started PrometheusReporter HTTP server on port (\d+)")


def _last_port(text: str) -> int | None:
    ports = _STARTED.findall(text)
    return int(ports[-1]) if ports else None


def jobmanager_port(log_dir: Path) -> int | None:
    """The JobManager's reporter port, from its newest log; None when no log says."""
    logs = sorted(log_dir.glob("flink-*-standalonesession-*.log"), key=lambda p: p.stat().st_mtime)
    return _last_port(logs[-1].read_text(errors="replace")) if logs else None


def taskmanager_port(log_dir: Path, tm_id: str) -> int | None:
    """The reporter port of the TaskManager whose resource id is ``tm_id`` (as the REST API lists it)."""
    for log in sorted(log_dir.glob("flink-*-taskexecutor-*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        text = log.read_text(errors="replace")
        if f"tm_{tm_id}" in text:
            return _last_port(text)
    return None
