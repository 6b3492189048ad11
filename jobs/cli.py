"""The ``ttpflow`` command line. Subcommands live in ``jobs/commands/<name>.py``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from jobs import commands
from udfs import jsonlog
from udfs.errors import TtpflowError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ttpflow", description="Raw security telemetry to scored, ATT&CK-aligned alerts on Apache Flink."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"jobs.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    jsonlog.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after a bare `--` is handed through untouched (e.g. job options for `submit`).
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, not the top-level one, says what it takes
        _subcommand(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.passthrough = passthrough
    try:
        return int(args.func(args) or 0)
    except TtpflowError as err:  # UserError and every other ttpflow error: a message, no traceback
        print(f"ttpflow {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


if __name__ == "__main__":
    sys.exit(main())
