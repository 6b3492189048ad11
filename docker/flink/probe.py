"""Health probes for the Flink containers of docker-compose.yml (standard library only).

    python3 probe.py jobmanager          exit 0 when the JobManager's REST API answers
    python3 probe.py taskmanager         exit 0 when this container's TaskManager is registered
    python3 probe.py job-running NAME    exit 0 when a job called NAME is running (or starting)

The REST endpoint is $FLINK_REST_URL (default http://jobmanager:8081). Exit 1 otherwise, with
the reason on stderr, which `docker inspect` shows in the health log.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from typing import Any

REST_URL = os.environ.get("FLINK_REST_URL", "http://jobmanager:8081").rstrip("/")
# States in which submitting the same job again would run it twice.
ACTIVE_JOB_STATES = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"}


def _get(path: str) -> Any:
    with urllib.request.urlopen(f"{REST_URL}{path}", timeout=5) as response:
        return json.load(response)


def jobmanager() -> str | None:
    overview = _get("/overview")
    if "flink-version" not in overview:
        return f"unexpected answer from {REST_URL}/overview: {overview}"
    return None


def _own_addresses() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    addresses = set(names)
    for name in names:
        try:
            addresses.update(info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET))
        except OSError:
            continue
    return {a for a in addresses if a and not a.startswith("127.")}


def taskmanager() -> str | None:
    # A TaskManager's id and RPC path carry its address (e.g. "172.18.0.5:40123-6f1a2b"), so
    # several scaled TaskManagers each check their own registration, not just "some TM exists".
    registered = _get("/taskmanagers").get("taskmanagers", [])
    mine = _own_addresses()
    for tm in registered:
        text = f"{tm.get('id', '')} {tm.get('path', '')}"
        # Whole addresses only: 172.18.0.5 must not match a TaskManager at 172.18.0.50.
        if any(re.search(rf"(?<![\w.-]){re.escape(address)}:", text) for address in mine):
            return None
    return f"this TaskManager ({', '.join(sorted(mine))}) is not registered at {REST_URL}"


def job_running(name: str) -> str | None:
    jobs = _get("/jobs/overview").get("jobs", [])
    if any(job.get("name") == name and job.get("state") in ACTIVE_JOB_STATES for job in jobs):
        return None
    return f"no active job named {name!r} at {REST_URL}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"jobmanager", "taskmanager", "job-running"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "jobmanager":
            problem = jobmanager()
        elif argv[0] == "taskmanager":
            problem = taskmanager()
        else:
            if len(argv) != 2:
                print("usage: probe.py job-running NAME", file=sys.stderr)
                return 2
            problem = job_running(argv[1])
    except (OSError, urllib.error.URLError, ValueError) as err:
        problem = f"{REST_URL} not reachable: {err}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
