"""``ttpflow run``: the job in the embedded Flink MiniCluster, on files or on Kafka topics."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

from jobs.cli import UserError
from udfs.jsonlog import log

DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "seed.jsonl"


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
    parser.add_argument("--events", type=Path, metavar="PATH",
                        help="every normalized event, one JSON per line (as `ttpflow normalize` prints them)")
    add_kafka_job_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jobs.flink_job import build_kafka_job, run_files
    from jobs.options import config_from_args

    config = config_from_args(args)
    if args.bootstrap_servers:
        if args.input:
            raise UserError("give either --input files or --bootstrap-servers, not both")
        log("job starting", mode="kafka", topics=list(config.topics.raw), bootstrap=config.bootstrap_servers)
        build_kafka_job(config).execute("ttpflow")
        return 0
    inputs = args.input or [DEFAULT_SAMPLE]
    for path in inputs:
        if not path.is_file():
            raise UserError(f"--input {path}: no such file")
    sinks: dict[str, IO[str]] = {}
    opened: list[IO[str]] = []
    for name, target in (("alerts", args.output), ("dead_letter", args.dead_letter),
                         ("signals", args.signals), ("late", args.late), ("events", args.events)):
        if target is None and name == "alerts":
            sinks[name] = sys.stdout
        elif target is not None:
            if str(target) != "-":
                target.parent.mkdir(parents=True, exist_ok=True)
            handle = sys.stdout if str(target) == "-" else target.open("w")
            if handle is not sys.stdout:
                opened.append(handle)
            sinks[name] = handle
    counts: Counter[str] = Counter()
    started = time.monotonic()
    log("job starting", mode="files", inputs=[str(p) for p in inputs])
    try:
        for name, line in run_files(config, inputs, frozenset(sinks)):
            counts[name] += 1
            sink = sinks.get(name)
            if sink is not None:
                sink.write(line + "\n")
    finally:
        for handle in opened:
            handle.close()
    log("job finished", seconds=round(time.monotonic() - started, 1), **{f"{k}_count": v for k, v in counts.items()})
    labels = {"alerts": "alerts", "signals": "signals", "dead_letter": "dead letters", "late": "late",
              "events": "events"}
    summary = ", ".join(f"{counts[name]} {label}" for name, label in labels.items() if name in sinks)
    print(f"ttpflow run: {summary}", file=sys.stderr)
    return 0
