"""``ttpflow rules check PATH...``: load Sigma rules as the job would and report what did not load.

Prints counts (files, loaded, unsupported, waiting for placeholder values, skipped correlation
rules, warnings) and every problem as ``file:line: field F: reason``. Exit code 1 when a rule is
unsupported (so CI can gate a rule repository on it), 0 otherwise, 2 for a usage error.

Every run also checks the suppression pack (``--rules-dir``, default the bundled rules): a warning on
stderr for each expired rule and, with ``--against FILE...``, for each rule that matches none of
those files' hits. Without Sigma paths, that check is the whole report.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from jobs.commands.detect import load_placeholders
from jobs.errors import UserError
from udfs.detect.sigma.engine import EngineReport, SigmaEngine
from udfs.detect.sigma.loader import RulePathError, load_rules
from udfs.detect.sigma.parse import RuleProblem


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rules", help="work with Sigma rule files", description="Work with Sigma rule files."
    )
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="load rules and report unsupported ones with file, line and field",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="Sigma rule files or folders")
    check.add_argument(
        "--explain", action="store_true",
        help="list the correlation rules (--rules-dir, plus Sigma correlations in PATH...) with the path each "
        "takes (JVM SQL or the Python keyed operator), why, and the SQL it compiles to",
    )
    check.add_argument("--rules-dir", metavar="DIR",
                       help="the rule pack for --explain and the suppression check (default: the bundled rules)")
    check.add_argument("--against", nargs="+", metavar="PATH", default=[],
                       help="input files (as `ttpflow run --input` takes them): warn on suppression rules that "
                            "match none of their hits")
    check.add_argument("--assets", metavar="PATH", help="the asset inventory suppression rules' asset tags read")
    check.add_argument(
        "--placeholders", metavar="FILE", help="YAML mapping of placeholder name -> values, for rules using |expand"
    )
    check.add_argument("--no-cache", action="store_true", help="parse every file again")
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")
    check.add_argument(
        "--verbose", "-v", action="store_true", help="also list every warning and rule waiting for placeholders"
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    # The suppression pack is checked on every run (warnings on stderr, so --json stays one object).
    suppressions = suppression_check(args.rules_dir, args.against, args.assets)
    if args.explain:
        print(explain_text(args.rules_dir, args.paths))
        if not args.paths:
            return 0
    elif not args.paths:
        print(suppressions)  # no Sigma paths: the suppression check is the report
        return 0
    try:
        ruleset = load_rules(args.paths, cache_dir=not args.no_cache)
    except RulePathError as exc:
        raise UserError(str(exc)) from None
    engine = SigmaEngine(ruleset, placeholders=load_placeholders(args.placeholders))
    report = engine.report
    if args.json:
        print(json.dumps(report_json(report), indent=1))
    else:
        print(report_text(report, verbose=args.verbose))
    return 1 if report.unsupported else 0


def _problem(p: RuleProblem) -> dict[str, Any]:
    return {
        "path": p.path,
        "line": p.line,
        "field": p.field,
        "reason": p.reason,
        "message": p.message,
        "rule_id": p.rule_id,
    }


def report_json(report: EngineReport) -> dict[str, Any]:
    return {
        "files": report.files,
        "rules": report.total,
        "loaded": report.loaded,
        "unsupported": len(report.unsupported),
        "unsupported_share": report_share(report),
        "unsupported_by_reason": dict(report.unsupported_by_reason()),
        "needs_placeholders": len(report.disabled),
        "skipped_correlations": len(report.skipped),
        "filters": report.filters,
        "warnings": len(report.warnings),
        "regex_python_fallbacks": len(report.regex_fallbacks),
        "parse_seconds": round(report.parse_seconds, 3),
        "compile_seconds": round(report.compile_seconds, 3),
        "cached_files": report.cached_files,
        "problems": [_problem(p) for p in report.unsupported],
        "placeholders": [_problem(p) for p in report.disabled],
        "warning_list": [_problem(p) for p in report.warnings + report.regex_fallbacks],
    }


def report_share(report: EngineReport) -> float:
    return round(len(report.unsupported) / report.total, 5) if report.total else 0.0


def report_text(report: EngineReport, verbose: bool = False) -> str:
    lines = [
        f"files: {report.files}  rules: {report.total}  loaded: {report.loaded}  "
        f"unsupported: {len(report.unsupported)} ({report_share(report):.2%})  "
        f"need placeholders: {len(report.disabled)}  correlations skipped: {len(report.skipped)}  "
        f"filters: {report.filters}",
        f"parse: {report.parse_seconds:.2f}s ({report.cached_files} of {report.files} files from cache)  "
        f"compile: {report.compile_seconds:.2f}s",
    ]
    if report.unsupported:
        lines.append("unsupported, by reason:")
        lines.extend(f"  {n:5d}  {reason}" for reason, n in report.unsupported_by_reason().most_common())
        lines.append("unsupported rules:")
        lines.extend(f"  {p}" for p in report.unsupported)
    if report.disabled:
        names = Counter(p.message for p in report.disabled)
        lines.append(f"waiting for placeholder values ({len(report.disabled)} rules; give --placeholders FILE):")
        lines.extend(f"  {n:5d}  {msg}" for msg, n in names.most_common())
        if verbose:
            lines.extend(f"  {p}" for p in report.disabled)
    if report.warnings or report.regex_fallbacks:
        kinds = Counter(p.reason for p in report.warnings + report.regex_fallbacks)
        lines.append("warnings: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
        shown = report.warnings + report.regex_fallbacks
        for p in shown if verbose else shown[:10]:
            lines.append(f"  {p}")
        if not verbose and len(shown) > 10:
            lines.append(f"  ... {len(shown) - 10} more (--verbose)")
    return "\n".join(lines)


def explain_text(rules_dir: str | None, sigma_paths: list[str]) -> str:
    """Each correlation rule: its kind, the path it takes and why; the SQL of the JVM-path ones."""
    from schemas.config import DEFAULT_RULES_DIR
    from udfs.correlate.plan import CorrelationPlan
    from udfs.correlate.rules import load_ruleset
    from udfs.correlate.sql import progression, sigma
    from udfs.correlate.sql.risk import risk_sql
    from udfs.correlate.sql.sequence import sequence_sql

    plan = CorrelationPlan(load_ruleset(rules_dir or DEFAULT_RULES_DIR, sigma_paths))
    sql = {r.id: sequence_sql(r) for r in plan.jvm_sequences}
    sql |= {r.id: progression.progression_sql(r, plan.tactic_order(r.id)) for r in plan.jvm_progressions}
    sql |= {r.id: sequence_sql(sigma.as_sequence(r), group_by=list(r.group_by),
                               chained="chained" if any(ref.correlation for ref in r.refs) else None)
            for r in plan.jvm_ordered}
    sql |= {r.id: sigma.sliding_sql(r) for r in plan.jvm_sliding}
    sql |= {r.id: risk_sql(r) for r in plan.jvm_risks}
    lines = []
    for path in plan.explain():
        lines.append(f"{path.rule_id}  [{path.kind}]  {path.path}: {path.why}")
        if path.rule_id in sql:
            lines.extend("    " + line for line in sql[path.rule_id].splitlines())
    jvm = sum(1 for p in plan.paths if p.path == "jvm")
    lines.append(f"{len(plan.paths)} correlation rules: {jvm} in the JVM (Flink SQL), "
                 f"{len(plan.paths) - jvm} on the Python keyed operator")
    lines += _network_text(rules_dir or DEFAULT_RULES_DIR)
    return "\n".join(lines)


def suppression_check(rules_dir: str | None, against: list[str], assets: str | None) -> str:
    """The suppression pack's summary line; each warning (expired; never matching ``against``) on stderr."""
    import sys

    from schemas.config import DEFAULT_RULES_DIR
    from udfs.suppress.check import count_matches, pack_report
    from udfs.suppress.rules import load_suppressions

    folder = rules_dir or DEFAULT_RULES_DIR
    report = pack_report(load_suppressions(folder))
    if against:
        report = count_matches(report, _suppressor(report, folder, assets), _analyzed(folder, against))
    for warning in report.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return report.summary()


def _suppressor(report: Any, rules_dir: str | Path, assets: str | None) -> Any:
    from udfs.link.inventory import load_inventory
    from udfs.suppress.match import AssetTags, Suppressor

    return Suppressor(report.active, inventory=load_inventory(assets), assets=AssetTags.load(assets))


def _analyzed(rules_dir: str | Path, paths: list[str]) -> Any:
    """(event, hits) for every record of ``paths`` that normalizes, as the job would detect them."""
    from udfs.detect.detector import load_detector
    from udfs.normalize.files import RecordFileError, iter_records
    from udfs.normalize.normalizer import Normalizer

    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"--against {path}: no such file")
    detector, normalizer = load_detector(rules_dir), Normalizer(None)
    try:
        for path in paths:
            for payload, origin in iter_records(path):
                event = normalizer.normalize(payload, origin).event
                if event is not None:
                    yield event, detector.detect(event)
    except RecordFileError as exc:
        raise UserError(str(exc)) from None


def _network_text(rules_dir: str | Path) -> list[str]:
    """The network behaviour rules: where each is decided, and the SQL of the windowed ones."""
    from udfs.network import sql as network_sql
    from udfs.network.behavior import WINDOWED
    from udfs.network.rules import load_network_rules

    lines = []
    for rule in load_network_rules(rules_dir):
        if rule.analytic in WINDOWED:
            lines.append(f"{rule.id}  [network:{rule.analytic}]  jvm: a tumbling window in Flink SQL, "
                         "decided in Python when it closes")
            lines.extend("    " + line for line in network_sql.window_sql(rule, "<its connections>").splitlines())
        else:
            lines.append(f"{rule.id}  [network:{rule.analytic}]  python: decided per connection in the analyze step")
    return lines


__all__ = ["explain_text", "register", "report_json", "report_text", "run_check"]
