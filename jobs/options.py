"""Job options shared by `ttpflow run`, `ttpflow submit` and `flink run -py jobs/flink_job.py`.

Kept free of pyflink imports so the command line starts fast.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from jobs.errors import UserError
from schemas.config import (
    DEFAULT_DEAD_LETTER_MAX_BYTES,
    DEFAULT_OUTPUT_MAX_BYTES,
    DEFAULT_RULES_DIR,
    PYTHON_EXECUTION_MODE,
    PYTHON_EXECUTION_MODES,
    JobConfig,
    Topics,
)
from schemas.rules import duration_ms

# A rules folder that holds no rules: the job's rules_dir under --no-default-rules.
NO_RULES_DIR = DEFAULT_RULES_DIR / "empty"


def add_topic_args(parser: argparse.ArgumentParser, raw_help: str) -> None:
    """The job's topics: for the job, and for ``ttpflow kafka topics``, which creates them."""
    topics = Topics()
    parser.add_argument("--raw-topic", action="append", dest="raw_topics", metavar="TOPIC[=FORMAT]",
                        help=f"{raw_help} (default {topics.raw[0]}; repeatable)")
    parser.add_argument("--alerts-topic", default=topics.alerts)
    parser.add_argument("--signals-topic", default=topics.signals)
    parser.add_argument("--dead-letter-topic", default=topics.dead_letter)
    parser.add_argument("--late-topic", default=topics.late)
    parser.add_argument("--suppressed-topic", default=topics.suppressed,
                        help=f"hits suppression rules took, with rule and reason (default {topics.suppressed})")


def add_kafka_job_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", required=False, help="Kafka bootstrap servers, HOST:PORT")
    add_topic_args(parser, "input topic, optionally with a fixed format")
    parser.add_argument("--group-id", default="ttpflow", help="Kafka consumer group (default ttpflow)")
    parser.add_argument("--transactional-id-prefix", default="ttpflow",
                        help="prefix of the alert sink's Kafka transactional ids; unique per job")
    parser.add_argument("--rules-dir", default=None, help="rule packs (default: the bundled rules/)")
    parser.add_argument("--no-default-rules", action="store_true",
                        help="load none of the bundled rule packs (Sigma, technique maps, correlations): only "
                             "--rules-dir's and --sigma's rules")
    parser.add_argument("--sigma", action="append", default=[], metavar="PATH", help="Sigma rules (repeatable)")
    parser.add_argument("--skip-bad-rules", action="store_true",
                        help="run without --sigma rules that cannot load (a warning each) instead of refusing to start")
    parser.add_argument("--format", default=None, help="fix the input format (default: detect per record)")
    parser.add_argument("--out-of-orderness", default="60s", help="watermark bound (default 60s)")
    parser.add_argument("--idleness", default="30s", help="idle-source timeout (default 30s)")
    parser.add_argument("--allowed-lateness", default="0s", help="lateness accepted behind the watermark")
    parser.add_argument("--checkpoint-interval", default="10s")
    parser.add_argument("--restart-attempts", type=int, default=0,
                        help="fixed-delay restarts after a failure (default 0: fail fast, as tests want)")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--python-execution-mode", choices=PYTHON_EXECUTION_MODES, default=PYTHON_EXECUTION_MODE,
                        help="PyFlink worker mode (default process; savepoints resume only in the mode that took them)")
    parser.add_argument("--assets", default=None, metavar="PATH",
                        help="asset inventory: host addresses, criticality, user aliases "
                             "(a sample: rules/assets/inventory.yaml)")
    parser.add_argument("--assets-topic", default=None, metavar="TOPIC",
                        help="compacted topic of asset entries (key: host name; value: one --assets entry; null: "
                             "delete), read from the start and applied while the job runs; overrides --assets")
    parser.add_argument("--identities-topic", default=None, metavar="TOPIC",
                        help="compacted topic of identity entries (key: user name), as --assets-topic")
    parser.add_argument("--change-windows-topic", default=None, metavar="TOPIC",
                        help="compacted topic of approved change windows (key: window id; value: one "
                             "change_windows entry), as --assets-topic")
    parser.add_argument("--binding-max-age", default="24h",
                        help="trust an address / session / principal binding this long after it was last seen")
    parser.add_argument("--start-from-timestamp", type=int, default=None, metavar="MS",
                        help="read the raw topics from this Kafka record time (epoch ms) instead of the group's "
                             "offsets: `ttpflow upgrade` replays the longest rule window this way")
    parser.add_argument("--baseline-half-life", default="7d",
                        help="adaptive baselines: half-life of the decayed technique counts per asset role "
                             "(default 7d)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="no adaptive baselines: no technique_rarity factor, no baseline windows")
    parser.add_argument("--state-ttl", default="7d", help="drop correlate state untouched this long (processing time)")
    parser.add_argument("--keep-raw-in-signals", action="store_true",
                        help="signals, events and suppressed records carry the event as parsed; by default its "
                             "secrets (API keys, bearer tokens, passwords on command lines) are redacted as in logs "
                             "and the raw payload is kept only in dead letters")
    parser.add_argument("--feedback-topic", default=None, metavar="TOPIC",
                        help="analysts' verdicts on alerts ({alert_id, verdict: true_positive|false_positive, "
                             "analyst}); false positives lower later alerts of the rule (docs/scoring.md)")
    parser.add_argument("--feedback-wait", default="10m",
                        help="how long a verdict waits for its alert on the alerts topic before it is "
                             "dead-lettered as unknown_alert_id (default 10m)")
    add_kafka_client_args(parser)
    add_dead_letter_max_bytes(parser)
    parser.add_argument("--output-max-bytes", type=byte_count, default=DEFAULT_OUTPUT_MAX_BYTES, metavar="N",
                        help="a record whose signal (or alert evidence share) would exceed this goes to the dead "
                             "letter as oversized_output instead (default %(default)s: under Kafka's 1 MiB limit)")


def add_kafka_client_args(parser: argparse.ArgumentParser) -> None:
    """``--kafka-property`` and ``--kafka-config``: security (SASL, TLS) and tuning for every Kafka client."""
    from jobs.kafka_props import parse_property

    parser.add_argument("--kafka-property", action="append", type=parse_property, default=[],
                        dest="kafka_properties", metavar="KEY=VALUE",
                        help="a Kafka client property for every client (source, sinks, broker check), e.g. "
                             "security.protocol=SASL_SSL; a value may be ${env:NAME} or ${file:/path} (repeatable; "
                             "wins over --kafka-config)")
    parser.add_argument("--kafka-config", default=None, metavar="FILE",
                        help="a Kafka client properties file (key=value lines, # comments), values may be "
                             "${env:NAME} or ${file:/path}")


def kafka_client_settings(args: argparse.Namespace) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """(--kafka-config resolved to an absolute path, --kafka-property pairs), checked on the client:
    the file parses and every secret reference resolves (the secrets themselves are dropped)."""
    from jobs.kafka_props import client_properties

    path = getattr(args, "kafka_config", None)
    config_file = str(Path(path).resolve()) if path else None
    pairs = tuple(getattr(args, "kafka_properties", None) or ())
    client_properties(config_file, pairs)
    return config_file, pairs


def byte_count(text: str) -> int:
    """A positive byte count (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes >= 1, got {value}")
    return value


def add_dead_letter_max_bytes(parser: argparse.ArgumentParser) -> None:
    """``--dead-letter-max-bytes``: shared by the job and ``ttpflow normalize``."""
    parser.add_argument("--dead-letter-max-bytes", type=byte_count, default=DEFAULT_DEAD_LETTER_MAX_BYTES,
                        metavar="N", help="a dead letter keeps the raw payload whole up to N bytes; above, its first "
                                          "N bytes, length and sha256, truncated: true (default %(default)s: fits "
                                          "Kafka's 1 MiB record limit once base64 and the envelope are counted)")


def _checked_sigma(args: argparse.Namespace) -> tuple[str, ...]:
    paths = [str(Path(p).resolve()) for p in args.sigma]
    check_sigma_paths(paths, getattr(args, "skip_bad_rules", False))
    return tuple(paths)


BROKEN = ("yaml", "sigma", "encoding", "unsupported")  # RuleProblem reasons of a rule that does not load


def check_sigma_paths(paths: list[str], skip_bad: bool) -> None:
    """A ``--sigma`` rule that cannot load stops the job before it starts (file, line, why), unless
    ``--skip-bad-rules``: then each is a warning and the job runs without it."""
    if not paths:
        return
    import logging

    from udfs.detect.sigma.loader import load_rules
    from udfs.jsonlog import log

    broken = [p for p in load_rules(paths).problems if p.reason in BROKEN]
    if broken and not skip_bad:
        listed = "; ".join(str(p) for p in broken[:5]) + (f"; and {len(broken) - 5} more" if len(broken) > 5 else "")
        raise UserError(f"{len(broken)} Sigma rule(s) cannot load: {listed} (fix them, or --skip-bad-rules)")
    for problem in broken:
        log("sigma rule skipped", level=logging.WARNING, rule=str(problem))


def _baseline_half_life(args: argparse.Namespace) -> int | None:
    if getattr(args, "no_baselines", False):
        return None
    ms = duration_ms(getattr(args, "baseline_half_life", "7d"))
    if ms < 60_000:
        raise UserError(f"--baseline-half-life {args.baseline_half_life}: expected at least 1m (the counts are "
                        "windowed by the hour), or --no-baselines")
    return ms


def config_from_args(args: argparse.Namespace) -> JobConfig:
    raw_topics: list[str] = []
    topic_formats: dict[str, str] = {}
    for spec in args.raw_topics or [Topics().raw[0]]:
        topic, _, fmt = spec.partition("=")
        raw_topics.append(topic)
        if fmt:
            topic_formats[topic] = fmt
    config = JobConfig(
        default_format=args.format,
        topic_formats=topic_formats,
        sigma_paths=_checked_sigma(args),
        out_of_orderness_ms=duration_ms(args.out_of_orderness),
        idleness_ms=duration_ms(args.idleness),
        allowed_lateness_ms=duration_ms(args.allowed_lateness),
        checkpoint_interval_ms=duration_ms(args.checkpoint_interval),
        restart_attempts=args.restart_attempts,
        python_execution_mode=args.python_execution_mode,
        topics=Topics(
            raw=tuple(raw_topics),
            alerts=args.alerts_topic,
            signals=args.signals_topic,
            dead_letter=args.dead_letter_topic,
            late=args.late_topic,
            suppressed=args.suppressed_topic,
        ),
        bootstrap_servers=args.bootstrap_servers,
        consumer_group=args.group_id,
        transactional_id_prefix=args.transactional_id_prefix,
        parallelism=args.parallelism,
        assets_path=str(Path(args.assets).resolve()) if args.assets else None,
        assets_topic=getattr(args, "assets_topic", None),
        identities_topic=getattr(args, "identities_topic", None),
        change_windows_topic=getattr(args, "change_windows_topic", None),
        binding_max_age_ms=duration_ms(args.binding_max_age),
        state_ttl_ms=duration_ms(args.state_ttl),
        baseline_half_life_ms=_baseline_half_life(args),
        start_from_ms=args.start_from_timestamp,
        dead_letter_max_bytes=args.dead_letter_max_bytes,
        output_max_bytes=args.output_max_bytes,
        keep_raw_in_signals=getattr(args, "keep_raw_in_signals", False),
        feedback_topic=getattr(args, "feedback_topic", None) or None,
        feedback_wait_ms=duration_ms(getattr(args, "feedback_wait", None) or "10m"),
    )
    kafka_config_file, kafka_properties = kafka_client_settings(args)
    config = replace(config, kafka_config_file=kafka_config_file, kafka_properties=kafka_properties)
    if args.rules_dir:
        if not Path(args.rules_dir).is_dir():
            raise UserError(f"--rules-dir {args.rules_dir}: not a folder (a rule pack holds sequences/, "
                            "correlations/, technique_maps/, network/ ...)")
        config = replace(config, rules_dir=str(Path(args.rules_dir).resolve()))
    elif args.no_default_rules:
        config = replace(config, rules_dir=str(NO_RULES_DIR))
    return config
