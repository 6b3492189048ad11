"""``ttpflow detect --rules PATH... INPUT...``: telemetry files in, technique hits out.

Normalizes each input with the job's normalizer, runs the job's detector (technique maps, the
project's own Sigma pack unless ``--no-default-rules``, and every rule under ``--rules``) and prints
one hit per line (JSON) on stdout. A summary goes to stderr: events, dead letters, hits per rule,
and the rule load report. Exit code 0 even when nothing matched; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

from jobs.errors import UserError
from udfs.detect.detector import DEFAULT_RULES_DIR, Detector, load_detector
from udfs.detect.sigma.engine import SigmaEngine
from udfs.detect.sigma.loader import RULE_SUFFIXES, RulePathError
from udfs.normalize import registry
from udfs.normalize.files import RecordFileError, iter_records
from udfs.normalize.normalizer import Normalizer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="normalize telemetry files and print ATT&CK technique hits (JSON lines on stdout)",
        description="Run the detect stage on files: normalize, match Sigma rules and technique maps, print "
        "one hit per line. Put INPUT files before --rules, or separate them with --, when giving "
        "several rule paths.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="telemetry files (.gz accepted)")
    add_rule_options(parser)
    parser.add_argument(
        "--format",
        dest="fmt",
        metavar="F",
        help=f"fix the input format instead of detecting it: {', '.join(registry.names())}",
    )
    parser.add_argument(
        "--no-default-rules", action="store_true", help="do not load the project's own Sigma pack (rules/sigma)"
    )
    parser.add_argument(
        "--rules-dir",
        default=str(DEFAULT_RULES_DIR),
        metavar="DIR",
        help="the project rules folder (technique maps, own Sigma pack)",
    )
    parser.set_defaults(func=run)


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules", nargs="+", action="extend", metavar="PATH", help="Sigma rule files or folders (repeatable)"
    )
    parser.add_argument(
        "--placeholders",
        metavar="FILE",
        help="YAML mapping of placeholder name -> list of values, for rules using |expand",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the parsed-rule cache")


def split_rules_and_inputs(rules: list[str], inputs: list[str]) -> tuple[list[str], list[str]]:
    """``--rules a.yml dir/ events.json`` puts the input among the rules: move trailing non-rule files."""
    rules = list(rules)
    moved: list[str] = []
    while not inputs and len(rules) > 1:
        last = Path(rules[-1])
        if last.is_dir() or last.suffix in RULE_SUFFIXES:
            break
        moved.insert(0, rules.pop())
    return rules, moved + list(inputs)


def load_placeholders(path: str | None) -> dict[str, list[str]]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of placeholder name -> list of values")
    out: dict[str, list[str]] = {}
    for name, values in data.items():
        items = values if isinstance(values, list) else [values]
        out[str(name).strip("%")] = [str(v) for v in items]
    return out


def run(args: argparse.Namespace) -> int:
    # `ttpflow` hands everything after a bare `--` through as args.passthrough: inputs here.
    inputs_given = list(args.inputs) + list(getattr(args, "passthrough", []) or [])
    rules, inputs = split_rules_and_inputs(args.rules or [], inputs_given)
    if not inputs:
        raise UserError("no INPUT files given")
    missing = [p for p in inputs if not Path(p).is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    try:
        normalizer = Normalizer(args.fmt)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    started = time.perf_counter()
    try:
        detector = load_detector(
            args.rules_dir,
            rules,
            own_sigma=not args.no_default_rules,
            placeholders=load_placeholders(args.placeholders),
            cache_dir=not args.no_cache,
        )
    except RulePathError as exc:
        raise UserError(str(exc)) from None
    load_s = time.perf_counter() - started
    counts: Counter[str] = Counter()
    titles: dict[str, str] = {}
    events = dead = 0
    out = sys.stdout.buffer
    started = time.perf_counter()
    try:
        for path in inputs:
            for payload, origin in iter_records(path):
                outcome = normalizer.normalize(payload, origin)
                if outcome.event is None:
                    dead += 1
                    continue
                events += 1
                for hit in detector.detect(outcome.event):
                    counts[hit["rule_id"]] += 1
                    titles[hit["rule_id"]] = hit["rule_title"]
                    out.write(orjson.dumps(hit) + b"\n")
    except RecordFileError as exc:
        raise UserError(str(exc)) from None
    finally:
        out.flush()
    print(summary(detector, events, dead, counts, titles, load_s, time.perf_counter() - started), file=sys.stderr)
    return 0


def summary(
    detector: Detector,
    events: int,
    dead: int,
    counts: Counter[str],
    titles: dict[str, str],
    load_s: float,
    run_s: float,
) -> str:
    lines = [
        f"events: {events} normalized, {dead} dead-lettered; hits: {sum(counts.values())} "
        f"from {len(counts)} rules; {run_s:.2f}s"
    ]
    for engine in (m for m in detector.matchers if isinstance(m, SigmaEngine)):
        report = engine.report
        lines.append(
            f"sigma: {report.loaded} rules loaded from {report.files} files in {load_s:.2f}s, "
            f"{len(report.unsupported)} unsupported, {len(report.disabled)} need placeholders "
            f"(details: ttpflow rules check)"
        )
    for rule_id, count in counts.most_common(20):
        lines.append(f"  {count:6d}  {titles[rule_id]}  [{rule_id}]")
    if len(counts) > 20:
        lines.append(f"  ... and {len(counts) - 20} more rules")
    return "\n".join(lines)
