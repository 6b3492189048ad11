"""The cluster path: ``ttpflow cluster start|stop|status``, ``submit``, ``stop --savepoint``, ``resume``."""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs.errors import UserError

LAST_JOB = "last-job-id"


def _cluster(args: argparse.Namespace):
    from jobs.local.cluster import FlinkCluster

    return FlinkCluster(state_dir=args.cluster_dir, rest_port=args.rest_port, rpc_port=args.rpc_port)


def _common(parser: argparse.ArgumentParser) -> None:
    from jobs.local.cluster import DEFAULT_STATE_DIR

    parser.add_argument("--rest-port", type=int, default=8081, help="JobManager REST port (default 8081)")
    parser.add_argument("--rpc-port", type=int, default=6123, help="JobManager RPC port (default 6123)")
    parser.add_argument("--cluster-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="config, logs, pids and checkpoints of the local cluster (default .ttpflow/flink)")


def _job_args(args: argparse.Namespace) -> list[str]:
    own: list[str] = []
    if getattr(args, "kafka_config", None):
        own += ["--kafka-config", args.kafka_config]
    for key, value in getattr(args, "kafka_properties", None) or ():
        own += ["--kafka-property", f"{key}={value}"]
    extra = _absolute_kafka_config([*own, *args.passthrough])
    if args.bootstrap_servers:
        from jobs.broker import require_broker
        from jobs.kafka_props import client_properties
        from jobs.options import add_kafka_client_args, kafka_client_settings

        # The broker check speaks the job's SASL/TLS: its client options, wherever they were given.
        parser = argparse.ArgumentParser(add_help=False)
        add_kafka_client_args(parser)
        config_file, pairs = kafka_client_settings(parser.parse_known_args(extra)[0])
        # before Flink is asked: one line, not a trace minutes later
        require_broker(args.bootstrap_servers, properties=client_properties(config_file, pairs))
        extra = ["--bootstrap-servers", args.bootstrap_servers, *extra]
    return extra


def _absolute_kafka_config(job_args: list[str]) -> list[str]:
    """``--kafka-config`` made absolute: Flink runs the job script from a folder of its own."""
    out = list(job_args)
    for i, arg in enumerate(out):
        if arg == "--kafka-config" and i + 1 < len(out):
            out[i + 1] = str(Path(out[i + 1]).resolve())
        elif arg.startswith("--kafka-config="):
            out[i] = "--kafka-config=" + str(Path(arg.partition("=")[2]).resolve())
    return out


def register(sub: argparse._SubParsersAction) -> None:
    from jobs.options import add_kafka_client_args

    cluster = sub.add_parser("cluster", help="a standalone Flink session cluster on 127.0.0.1")
    _common(cluster)
    cluster.add_argument("action", choices=["start", "stop", "status", "add-taskmanager"],
                         help="start starts what is missing (both daemons, or a TaskManager beside a lone "
                              "JobManager); status lists the TaskManagers; add-taskmanager starts one more")
    cluster.add_argument("--replace", action="store_true",
                         help="add-taskmanager: then stop the oldest TaskManager (its tasks fail over to the new one "
                              "when the job has --restart-attempts)")
    cluster.set_defaults(func=cluster_cmd)

    for name, help_text in (("submit", "submit the job to the session cluster"),
                            ("resume", "resume the job from a savepoint taken by `ttpflow stop`")):
        parser = sub.add_parser(name, help=help_text,
                                description="Arguments after -- go to the job (see `ttpflow run --help`).")
        _common(parser)
        if name == "resume":
            parser.add_argument("savepoint", help="savepoint directory (printed by `ttpflow stop`), or a retained "
                                                  "checkpoint (chk-N, or its job's checkpoint folder: the newest)")
            parser.add_argument("--allow-non-restored-state", action="store_true",
                                help="drop the savepoint's state of operators the job no longer has (a rule removed "
                                     "or changed); without it Flink refuses the savepoint")
        parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, HOST:PORT")
        add_kafka_client_args(parser)
        parser.set_defaults(func=submit_cmd)

    upgrade = sub.add_parser(
        "upgrade", help="start this build's job in place of one stopped by an older ttpflow (state format 1)",
        description="No state crosses from the older job: the new job reads the raw topics again from the "
        "savepoint's time less the longest rule window (plus watermark bound and lateness), so half-finished "
        "matches are rebuilt. Alerts ids are deterministic: an alert raised again in that window has the id it "
        "had. Arguments after -- go to the job.")
    _common(upgrade)
    upgrade.add_argument("savepoint", help="savepoint directory of the older job (printed by `ttpflow stop`)")
    upgrade.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, HOST:PORT")
    add_kafka_client_args(upgrade)
    upgrade.set_defaults(func=upgrade_cmd)

    stop = sub.add_parser("stop", help="stop the job with a savepoint")
    _common(stop)
    stop.add_argument("--savepoint", required=True, type=Path, metavar="DIR", help="where to write it")
    stop.add_argument("--job-id", help="default: the job last submitted by ttpflow")
    stop.set_defaults(func=stop_cmd)


def cluster_cmd(args: argparse.Namespace) -> int:
    from jobs.local.cluster import ClusterError

    cluster = _cluster(args)
    try:
        if args.action == "start":
            started = cluster.start()
            print(f"flink cluster running: {cluster.rest_url}"
                  + (f" (started {', '.join(started)})" if started else ""))
        elif args.action == "stop":
            cluster.stop()
            print("flink cluster stopped")
        elif args.action == "add-taskmanager":
            stopped = cluster.add_task_manager(replace=args.replace)
            print(f"taskmanager added to {cluster.rest_url}" + (f"; stopped pid {stopped}" if stopped else ""))
            _print_task_managers(cluster)
        else:
            count = cluster.task_manager_count()
            if count is None:
                print(f"flink cluster not running: {cluster.rest_url}")
            elif count == 0:
                print(f"flink cluster not running: JobManager up at {cluster.rest_url}, no TaskManager "
                      "(`ttpflow cluster start` starts one)")
            else:
                print(f"flink cluster running: {cluster.rest_url}")
                _print_task_managers(cluster)
    except ClusterError as err:
        raise UserError(str(err)) from None
    return 0


def _print_task_managers(cluster) -> None:
    from jobs.local.reporter_ports import jobmanager_port, taskmanager_port
    from jobs.local.rest import format_task_managers

    tms = cluster.task_managers()
    print(format_task_managers(tms))
    # The reporter takes the first free port of a range: say which one each process got.
    log_dir = cluster.state_dir / "log"
    ports = [("jobmanager", jobmanager_port(log_dir))]
    ports += [(f"taskmanager {tm.id}", taskmanager_port(log_dir, tm.id)) for tm in tms]
    for name, port in ports:
        if port is not None:
            print(f"metrics {name}: http://127.0.0.1:{port}/metrics")


def submit_cmd(args: argparse.Namespace) -> int:
    from jobs.local.cluster import ClusterError

    cluster = _cluster(args)
    if not cluster.running():
        raise UserError(f"no Flink cluster at {cluster.rest_url}; start one with `ttpflow cluster start`")
    try:
        job_id = cluster.submit(_job_args(args), savepoint=getattr(args, "savepoint", None),
                                allow_non_restored_state=getattr(args, "allow_non_restored_state", False))
    except ClusterError as err:
        raise UserError(str(err)) from None
    (cluster.state_dir / LAST_JOB).write_text(job_id + "\n")
    print(job_id)
    return 0


def upgrade_cmd(args: argparse.Namespace) -> int:
    from jobs.local.cluster import ClusterError, upgrade_start_ms
    from jobs.options import add_kafka_job_args, config_from_args
    from udfs.correlate.plan import CorrelationPlan
    from udfs.correlate.rules import load_ruleset

    cluster = _cluster(args)
    if not cluster.running():
        raise UserError(f"no Flink cluster at {cluster.rest_url}; start one with `ttpflow cluster start`")
    job_args = _job_args(args)
    parser = argparse.ArgumentParser(add_help=False)
    add_kafka_job_args(parser)
    config = config_from_args(parser.parse_known_args(job_args)[0])
    window = CorrelationPlan(load_ruleset(config.rules_dir, config.sigma_paths)).longest_window_ms()
    replay = window + config.out_of_orderness_ms + config.allowed_lateness_ms
    try:
        start = upgrade_start_ms(args.savepoint, replay)
        job_id = cluster.submit([*job_args, "--start-from-timestamp", str(start)])
    except ClusterError as err:
        raise UserError(str(err)) from None
    (cluster.state_dir / LAST_JOB).write_text(job_id + "\n")
    print(job_id)
    return 0


def stop_cmd(args: argparse.Namespace) -> int:
    from jobs.local.cluster import ClusterError

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
