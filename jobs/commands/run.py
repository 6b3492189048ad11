"""``ttpflow run``: the job in the embedded Flink MiniCluster, on files or on Kafka topics."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING

from jobs.errors import UserError
from udfs.jsonlog import log

if TYPE_CHECKING:
    from schemas.config import JobConfig

DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "seed.jsonl"
# A file run's staged input and its outputs' part files, removed when it ends (--work-dir).
DEFAULT_WORK_DIR = Path(__file__).resolve().parents[2] / ".ttpflow" / "runs"


def register(sub: argparse._SubParsersAction) -> None:
    from jobs.options import add_kafka_job_args

    parser = sub.add_parser(
        "run",
        help="run the job locally (embedded MiniCluster) on files or Kafka topics",
        description="Files: --input PATH... --output PATH. Kafka: --bootstrap-servers HOST:PORT [topics].",
    )
    parser.add_argument("--input", nargs="+", type=Path, metavar="PATH",
                        help="JSON-lines / JSON-array / CloudTrail files (default: the bundled sample)")
    parser.add_argument("--output", type=Path, metavar="PATH", help="alerts, one JSON per line ('-': stdout)")
    parser.add_argument("--dead-letter", type=Path, metavar="PATH", help="dead letters, one JSON per line")
    parser.add_argument("--signals", type=Path, metavar="PATH", help="every technique hit, one JSON per line")
    parser.add_argument("--late", type=Path, metavar="PATH", help="hits behind the watermark, one JSON per line")
    parser.add_argument("--suppressed", type=Path, metavar="PATH",
                        help="hits suppression rules took, with the rule and its reason, one JSON per line")
    parser.add_argument("--events", type=Path, metavar="PATH",
                        help="every normalized event, one JSON per line (as `ttpflow normalize` prints them)")
    parser.add_argument("--work-dir", type=Path, metavar="DIR",
                        help="files: where the run stages its input and output, removed at the end; needs 4/3 of "
                             "the input plus ~40 bytes and the file name per record, and the outputs, free "
                             "(1.7x for 190-byte records; default .ttpflow/runs in the project)")
    parser.add_argument("--metrics-port", type=_metrics_port, metavar="PORT[-LAST]",
                        help="serve the job's metrics (Flink's and ttpflow's) for Prometheus at "
                             "http://127.0.0.1:PORT/metrics while it runs (a range: the first free port)")
    add_kafka_job_args(parser)
    parser.set_defaults(func=run)


def _metrics_port(text: str) -> str:
    from jobs.local.metrics import check_port

    return check_port(text)


def run(args: argparse.Namespace) -> int:
    from jobs.flink_job import build_kafka_job
    from jobs.options import config_from_args

    config = config_from_args(args)
    if getattr(args, "metrics_port", None):
        from dataclasses import replace as _replace

        config = _replace(config, metrics_port=args.metrics_port)
    if args.bootstrap_servers:
        if args.input:
            raise UserError("give either --input files or --bootstrap-servers, not both")
        from jobs.broker import require_broker
        from jobs.kafka_props import client_properties, gather, masked

        require_broker(args.bootstrap_servers,
                       properties=client_properties(config.kafka_config_file, config.kafka_properties))
        from dataclasses import replace

        from schemas.config import PROJECT_ROOT

        # The embedded cluster checkpoints to disk: JobManager memory would cap state at 5 MB.
        config = replace(config, checkpoint_dir=config.checkpoint_dir or str(PROJECT_ROOT / ".ttpflow" / "checkpoints"))
        log("job starting", mode="kafka", topics=list(config.topics.raw), bootstrap=config.bootstrap_servers,
            kafka_properties=masked(gather(config.kafka_config_file, config.kafka_properties)))
        build_kafka_job(config).execute("ttpflow")
        return 0
    return run_on_files(args, config)


def run_on_files(args: argparse.Namespace, config: JobConfig) -> int:
    """The streaming job on files: inputs staged to disk, read by a file source; outputs written by
    file sinks, then copied to the requested paths. Memory stays bounded whatever the input size."""
    from jobs.flink_job import run_files
    from jobs.staging import gather, stage
    from udfs.normalize.files import RecordFileError

    inputs = args.input or [DEFAULT_SAMPLE]
    for path in inputs:
        if not path.is_file():
            raise UserError(f"--input {path}: no such file")
    sinks: dict[str, IO[bytes]] = {}
    opened: list[IO[bytes]] = []
    for name, target in (("alerts", args.output), ("dead_letter", args.dead_letter),
                         ("signals", args.signals), ("late", args.late), ("events", args.events),
                         ("suppressed", args.suppressed)):
        if target is None and name == "alerts":
            sinks[name] = sys.stdout.buffer
        elif target is not None:
            if str(target) != "-":
                target.parent.mkdir(parents=True, exist_ok=True)
            handle = sys.stdout.buffer if str(target) == "-" else target.open("wb")
            if handle is not sys.stdout.buffer:
                opened.append(handle)
            sinks[name] = handle
    work_root = args.work_dir or DEFAULT_WORK_DIR
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=work_root))
    counts: Counter[str] = Counter()
    started = time.monotonic()
    try:
        log("staging inputs", inputs=[str(p) for p in inputs], work_dir=str(work))
        try:
            records = stage(inputs, work / "records.jsonl")
        except RecordFileError as exc:
            raise UserError(str(exc)) from None
        staged = time.monotonic()
        log("job starting", mode="files", records=records, staging_seconds=round(staged - started, 1))
        dirs = run_files(config, work / "records.jsonl", work / "out", frozenset(sinks))
        finished = time.monotonic()
        sys.stdout.flush()
        for name, sink in sinks.items():
            counts[name] = gather(dirs[name], sink, sort_alerts=name == "alerts", spill_dir=work)
            sink.flush()
    finally:
        for handle in opened:
            handle.close()
        shutil.rmtree(work, ignore_errors=True)
    log("job finished", seconds=round(time.monotonic() - started, 1), job_seconds=round(finished - staged, 1),
        **{f"{k}_count": v for k, v in counts.items()})
    labels = {"alerts": "alerts", "signals": "signals", "dead_letter": "dead letters", "late": "late",
              "events": "events", "suppressed": "suppressed"}
    summary = ", ".join(f"{counts[name]} {label}" for name, label in labels.items() if name in sinks)
    print(f"ttpflow run: {summary}", file=sys.stderr)
    return 0
