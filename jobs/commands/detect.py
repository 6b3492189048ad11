"""``ttpflow detect --rules PATH... INPUT...``: telemetry files in, technique hits out.

Normalizes each input with the job's normalizer, runs the job's detector (the bundled rule packs,
technique maps and Sigma, unless ``--no-default-rules``; the pack of ``--rules-dir``; every rule under
``--rules``), deduplicates the hits of rules that ask for it (``udfs.detect.dedupe``) and prints one
hit per line (JSON) on stdout. A summary goes to stderr: events, dead letters, hits per rule and per
technique, and the rule load report. Exit code 0 even when nothing matched; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from jobs.errors import UserError
from schemas.rules import duration_ms
from udfs.detect.catalog import Catalog
from udfs.detect.dedupe import HitDeduplicator
from udfs.detect.detector import DEFAULT_RULES_DIR, Detector, dedupe_windows, load_detector
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
        "--no-default-rules",
        action="store_true",
        help="load none of the bundled rule packs (Sigma and technique maps); --rules-dir and --rules still apply",
    )
    parser.add_argument(
        "--rules-dir",
        default=None,
        metavar="DIR",
        help=f"a rules folder (technique_maps/, sigma/, correlations/) instead of the bundled {DEFAULT_RULES_DIR}",
    )
    parser.add_argument(
        "--dedupe",
        metavar="WINDOW",
        help="keep one hit per rule, entity (host, else user) and WINDOW (e.g. 1h) for every rule that names "
        "no window of its own (technique maps: dedupe:, Sigma: ttpflow.dedupe)",
    )
    parser.add_argument("--no-dedupe", action="store_true", help="print every hit, even of rules that ask for dedupe")
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
    rules_dir = rules_dir_of(args)
    started = time.perf_counter()
    try:
        detector = load_detector(
            rules_dir,
            rules,
            placeholders=load_placeholders(args.placeholders),
            cache_dir=not args.no_cache,
        )
        deduper = deduplicator(args, rules_dir, rules)
    except RulePathError as exc:
        raise UserError(str(exc)) from None
    load_s = time.perf_counter() - started
    counts: Counter[str] = Counter()
    titles: dict[str, str] = {}
    techniques: Counter[str] = Counter()
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
                    if not deduper.keep(hit):
                        continue
                    counts[hit["rule_id"]] += 1
                    titles.setdefault(hit["rule_id"], hit["rule_title"])
                    techniques.update(hit["techniques"])
                    out.write(orjson.dumps(hit) + b"\n")
    except RecordFileError as exc:
        raise UserError(str(exc)) from None
    finally:
        out.flush()
    tally = Tally(counts, titles, techniques, deduper.dropped)
    print(summary(detector, events, dead, tally, load_s, time.perf_counter() - started), file=sys.stderr)
    return 0


def rules_dir_of(args: argparse.Namespace) -> Path | None:
    """The rule pack: ``--rules-dir``, else the bundled one unless ``--no-default-rules``."""
    if args.rules_dir:
        if not Path(args.rules_dir).is_dir():
            raise UserError(f"--rules-dir {args.rules_dir}: no such directory")
        return Path(args.rules_dir)
    return None if args.no_default_rules else DEFAULT_RULES_DIR


def deduplicator(args: argparse.Namespace, rules_dir: Path | None, rules: list[str]) -> HitDeduplicator:
    if args.no_dedupe:
        return HitDeduplicator({})
    try:
        default = duration_ms(args.dedupe) if args.dedupe else None
    except ValueError as exc:
        raise UserError(f"--dedupe: {exc}") from None
    if default is not None and default <= 0:
        raise UserError(f"--dedupe: a window must be positive, got {args.dedupe!r}")
    return HitDeduplicator(dedupe_windows(rules_dir, rules), default)


@dataclass
class Tally:
    """What the summary counts: hits kept per rule (with the rule's title) and per technique, and
    hits dropped by deduplication per rule."""

    rules: Counter[str]
    titles: dict[str, str]
    techniques: Counter[str]
    dropped: Counter[str]


def technique_title(catalog: Catalog, tid: str) -> str:
    name = catalog.name(tid)
    parent = catalog.name(tid.split(".", 1)[0]) if "." in tid else None
    if name and parent:
        return f"{parent}: {name}"
    return name or parent or "(not in the ATT&CK catalog)"


def summary(
    detector: Detector, events: int, dead: int, tally: Tally, load_s: float, run_s: float, top: int = 20
) -> str:
    dropped = sum(tally.dropped.values())
    lines = [
        f"events: {events} normalized, {dead} dead-lettered; hits: {sum(tally.rules.values())} "
        f"from {len(tally.rules)} rules" + (f" ({dropped} more deduplicated)" if dropped else "") + f"; {run_s:.2f}s"
    ]
    for engine in (m for m in detector.matchers if isinstance(m, SigmaEngine)):
        report = engine.report
        lines.append(
            f"sigma: {report.loaded} rules loaded from {report.files} files in {load_s:.2f}s, "
            f"{len(report.unsupported)} unsupported, {len(report.disabled)} need placeholders "
            f"(details: ttpflow rules check)"
        )
    if tally.rules:
        lines.append("hits by rule:")
    for rule_id, count in tally.rules.most_common(top):
        more = f" (+{tally.dropped[rule_id]} deduplicated)" if tally.dropped[rule_id] else ""
        lines.append(f"  {count:6d}  {tally.titles[rule_id]}  [{rule_id}]{more}")
    if len(tally.rules) > top:
        lines.append(f"  ... and {len(tally.rules) - top} more rules")
    if tally.techniques:
        lines.append("hits by technique (a hit counts once for each technique it names):")
    for tid, count in tally.techniques.most_common(top):
        lines.append(f"  {count:6d}  {tid}  {technique_title(detector.catalog, tid)}")
    if len(tally.techniques) > top:
        lines.append(f"  ... and {len(tally.techniques) - top} more techniques")
    return "\n".join(lines)
