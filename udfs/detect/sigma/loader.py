"""Find Sigma rule files, parse them (pySigma), and cache the parsed form by file content.

pySigma parses the 3,780 SigmaHQ rules in about five seconds; a job restart or a CLI run should not
pay that every time. The intermediate form (``ir``) of each file is cached under its path and
the sha256 of its bytes, in one pickle per cache directory, so a changed file is re-parsed and an
unchanged one is not. The cache is a local, user-owned file: delete it at will, it is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sigma

from udfs.detect.sigma.ir import FilterIR, RuleIR
from udfs.detect.sigma.memory import long_lived
from udfs.detect.sigma.parse import ParsedFile, RuleProblem, parse_file
from udfs.errors import Location, TtpflowError

# Bump when ir.py / parse.py change what they produce: old cache entries are then ignored.
CACHE_VERSION = f"ttpflow-sigma-ir/2 pysigma/{getattr(sigma, '__version__', '?')}"
CACHE_FILE = "sigma-ir.pickle"
RULE_SUFFIXES = (".yml", ".yaml")


def default_cache_dir() -> Path:
    env = os.environ.get("TTPFLOW_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ttpflow"


@dataclass
class RuleSet:
    rules: list[RuleIR] = field(default_factory=list)
    filters: list[FilterIR] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)  # did not load: counted as unsupported
    skipped: list[RuleProblem] = field(default_factory=list)  # not detection rules (correlations)
    files: int = 0
    cached_files: int = 0
    seconds: float = 0.0


class RulePathError(TtpflowError, ValueError):
    """A path given for rules that does not exist or holds no rule files."""


def find_rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise RulePathError("no such file or directory", location=Location(path=str(path)))
    return files


def load_rules(paths: Sequence[Path | str], cache_dir: Path | bool | None = True) -> RuleSet:
    """Parse every rule file under ``paths``. ``cache_dir``: True = default, False/None = no cache."""
    started = time.perf_counter()
    files = find_rule_files(Path(p) for p in paths)
    directory = default_cache_dir() if cache_dir is True else (cache_dir or None)
    cache = _read_cache(directory) if directory else {}
    fresh: dict[tuple[str, str], ParsedFile] = {}
    out = RuleSet(files=len(files))
    for path in files:
        data = path.read_bytes()
        key = (str(path), hashlib.sha256(data).hexdigest())
        parsed = cache.get(key)
        if parsed is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.problems.append(RuleProblem(str(path), None, None, "encoding", f"not UTF-8: {exc}"))
                continue
            parsed = parse_file(path, text)
        else:
            out.cached_files += 1
        fresh[key] = parsed
        out.rules.extend(parsed.rules)
        out.filters.extend(parsed.filters)
        out.problems.extend(parsed.problems)
        out.skipped.extend(parsed.skipped)
    if directory and fresh.keys() - cache.keys():
        _write_cache(directory, {**cache, **fresh} if len(cache) < 50_000 else fresh)
    out.seconds = time.perf_counter() - started
    return out


def _read_cache(directory: Path) -> dict[tuple[str, str], ParsedFile]:
    path = directory / CACHE_FILE
    try:
        with path.open("rb") as handle, long_lived():
            version, entries = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError):
        return {}
    return entries if version == CACHE_VERSION else {}


def _write_cache(directory: Path, entries: dict[tuple[str, str], ParsedFile]) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f"{CACHE_FILE}.{os.getpid()}.tmp"
        with tmp.open("wb") as handle:
            pickle.dump((CACHE_VERSION, entries), handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(directory / CACHE_FILE)  # atomic: a concurrent reader sees the old or the new file
    except OSError:
        pass  # a read-only home must not stop detection; we only lose the speed-up
