"""``ttpflow status``: per running job and operator, what the Flink REST API knows of its health."""

from __future__ import annotations

import argparse
import json

from jobs.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status",
        help="per-operator throughput, backpressure, busy time, watermark lag and the latest checkpoint",
        description="Reads the session cluster's REST API. Per running job: the latest completed checkpoint (its "
        "age, end-to-end duration, full and incremental size, failed count); per operator: records in and out per "
        "second (summed over subtasks), backpressure level and back-pressured share of time, busy share of time, "
        "and watermark lag (this machine's clock - the lowest current input watermark; '-' before the first "
        "watermark and for sources).",
    )
    parser.add_argument("--rest-port", type=int, default=8081, help="JobManager REST port (default 8081)")
    parser.add_argument("--rest-host", default="127.0.0.1", help="JobManager REST host (default 127.0.0.1)")
    parser.add_argument("--job-id", help="one job (default: every running job)")
    parser.add_argument("--json", action="store_true", help="one JSON document for scripts instead of the table")
    parser.set_defaults(func=status_cmd)


def status_cmd(args: argparse.Namespace) -> int:
    from jobs.local.rest import RestError, format_jobs, http_fetch, job_status, running_job_ids

    fetch = http_fetch(f"http://{args.rest_host}:{args.rest_port}")
    try:
        if args.job_id and args.job_id not in {j["jid"] for j in fetch("/jobs/overview").get("jobs", [])}:
            raise UserError(f"no job {args.job_id} on the cluster at {args.rest_host}:{args.rest_port}")
        ids = [args.job_id] if args.job_id else running_job_ids(fetch)
        jobs = [job_status(fetch, job_id) for job_id in ids]
    except RestError as err:
        raise UserError(str(err)) from None
    if args.json:
        print(json.dumps({"jobs": [job.to_json() for job in jobs]}, indent=2))
    else:
        print(format_jobs(jobs))
    return 0
