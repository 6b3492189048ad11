"""The cluster path: ``ttpflow cluster start|stop|status``, ``submit``, ``stop --savepoint``, ``resume``."""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs.cli import UserError

LAST_JOB = "last-job-id"


def _cluster(args: argparse.Namespace):
    from jobs.cluster import FlinkCluster

    return FlinkCluster(state_dir=args.cluster_dir, rest_port=args.rest_port, rpc_port=args.rpc_port)


def _common(parser: argparse.ArgumentParser) -> None:
    from jobs.cluster import DEFAULT_STATE_DIR

    parser.add_argument("--rest-port", type=int, default=8081, help="JobManager REST port (default 8081)")
    parser.add_argument("--rpc-port", type=int, default=6123, help="JobManager RPC port (default 6123)")
    parser.add_argument("--cluster-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="config, logs, pids and checkpoints of the local cluster (default .ttpflow/flink)")


def _job_args(args: argparse.Namespace) -> list[str]:
    extra = list(args.passthrough)
    if args.bootstrap_servers:
        extra = ["--bootstrap-servers", args.bootstrap_servers, *extra]
    return extra


def register(sub: argparse._SubParsersAction) -> None:
    cluster = sub.add_parser("cluster", help="a standalone Flink session cluster on 127.0.0.1")
    _common(cluster)
    cluster.add_argument("action", choices=["start", "stop", "status"])
    cluster.set_defaults(func=cluster_cmd)

    for name, help_text in (("submit", "submit the job to the session cluster"),
                            ("resume", "resume the job from a savepoint taken by `ttpflow stop`")):
        parser = sub.add_parser(name, help=help_text,
                                description="Arguments after -- go to the job (see `ttpflow run --help`).")
        _common(parser)
        if name == "resume":
            parser.add_argument("savepoint", help="savepoint directory (printed by `ttpflow stop`)")
        parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, HOST:PORT")
        parser.set_defaults(func=submit_cmd)

    stop = sub.add_parser("stop", help="stop the job with a savepoint")
    _common(stop)
    stop.add_argument("--savepoint", required=True, type=Path, metavar="DIR", help="where to write it")
    stop.add_argument("--job-id", help="default: the job last submitted by ttpflow")
    stop.set_defaults(func=stop_cmd)


def cluster_cmd(args: argparse.Namespace) -> int:
    from jobs.cluster import ClusterError

    cluster = _cluster(args)
    try:
        if args.action == "start":
            cluster.start()
            print(f"flink cluster running: {cluster.rest_url}")
        elif args.action == "stop":
            cluster.stop()
            print("flink cluster stopped")
        else:
            print(f"flink cluster {'running' if cluster.running() else 'not running'}: {cluster.rest_url}")
    except ClusterError as err:
        raise UserError(str(err)) from None
    return 0


def submit_cmd(args: argparse.Namespace) -> int:
    from jobs.cluster import ClusterError

    cluster = _cluster(args)
    if not cluster.running():
        raise UserError(f"no Flink cluster at {cluster.rest_url}; start one with `ttpflow cluster start`")
    try:
        job_id = cluster.submit(_job_args(args), savepoint=getattr(args, "savepoint", None))
    except ClusterError as err:
        raise UserError(str(err)) from None
    (cluster.state_dir / LAST_JOB).write_text(job_id + "\n")
    print(job_id)
    return 0


def stop_cmd(args: argparse.Namespace) -> int:
    from jobs.cluster import ClusterError

    cluster = _cluster(args)
    job_id = args.job_id
    if not job_id:
        last = cluster.state_dir / LAST_JOB
        if not last.is_file():
            raise UserError("no --job-id and no job submitted by ttpflow on this cluster")
        job_id = last.read_text().strip()
    try:
        path = cluster.stop_with_savepoint(job_id, args.savepoint)
    except ClusterError as err:
        raise UserError(str(err)) from None
    print(path)
    return 0
