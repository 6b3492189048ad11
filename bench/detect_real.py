"""Real-telemetry mode of ``bench_detect.py``: every sample, the full SigmaHQ set, from a cold start.

    .venv/bin/python bench/bench_detect.py --real [--events 200000] [--sigma ../shared/sigma]
                                                  [--samples ../shared/samples] [--no-sqlite] [--no-naive]
                                                  [--profile [--profile-top 15]]

What it does, in one run, one core (the process is pinned; rates are events per CPU-second of the
process doing the work, ``time.process_time`` or the child's rusage). Every row runs in a fresh
child process (a job's worker: start, load the rules, take the stream), so no row inherits another's
warm automata or garbage; each child prints its figures as JSON and its peak RSS comes from
``wait4``:

- **corpus**: every record of every data file under ``--samples`` (documentation, licences,
  ``index.jsonl`` and ``*.paths.txt`` left out), read with the job's file reader and normalized
  with the job's normalizer; records it dead-letters are counted per file and left out. The
  normalized records are replicated into a stream of at least ``--events`` events as *passes*:
  each pass is every record once, in a fresh seeded shuffle, so kinds are mixed and the first pass
  is all new to the engine (lanes, RE2's lazily built automata, anchor learning), the later ones
  what a warm engine sees.
- **rule load**: ``load_rules`` + ``SigmaEngine`` of rules/, rules-emerging-threats/ and
  rules-threat-hunting/ in a fresh child process, cold (empty rule cache: pySigma parses every
  file) then warm (the cache that run wrote): load CPU inside the child, the child's whole CPU
  (interpreter and imports included) and its peak RSS.
- **matcher alone** (events normalized before timing): ``SigmaEngine.match`` (the partial hits the
  detector turns into technique hits) with every lane built at load (the default), with lanes
  built on first use, and over 100 random rules (seeded; how the cost grows with the rule count,
  per event and per routed lane-event); first 10k events, first pass, steady state (the second half
  of the stream) and the whole stream.
- **naive per-rule**: every compiled rule tried on every event of the first pass (its log source
  checked, then its condition evaluated with no prefilter): what the index saves.
- **pySigma SQLite** (``pysigma-backend-sqlite``, Zircolite's approach; pySigma itself has no
  evaluator): the rules converted by pySigma (not timed), the first pass inserted into per-log-source
  tables, every query run. Skipped with a note when the backend is not installed.
- **normalize + match end to end**: raw record bytes -> ``Normalizer.normalize`` ->
  ``SigmaEngine.match``, over the same stream, with a fresh engine; and normalize alone.
- **rsigma** (Rust, ``rsigma engine eval``) when an ``rsigma`` binary is on PATH: the same stream as
  JSON lines of each event's vendor fields (the flat Sysmon / Security names its rules use; it gets
  them already flattened), the same three rule folders; its CPU from the child's rusage, once with
  no events (load) and once with the stream. Skipped with a printed note otherwise.
- ``--profile``: the end-to-end row once more under py-spy (``pip install -e '.[bench]'``), its
  top frames on the per-event path (inclusive and own time, lines merged per function).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.event import Origin  # noqa: E402
from udfs.detect.sigma.engine import SigmaEngine  # noqa: E402
from udfs.detect.sigma.lane import Lane  # noqa: E402
from udfs.detect.sigma.loader import load_rules  # noqa: E402
from udfs.detect.sigma.routing import EventSource, describe, pipeline, route_key  # noqa: E402
from udfs.normalize.files import iter_records  # noqa: E402
from udfs.normalize.normalizer import Normalizer  # noqa: E402

Event = dict[str, Any]
RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
FIRST = 10_000  # "the first 10k events"
CHUNK = 500  # CPU time is read every CHUNK events


# --- corpus --------------------------------------------------------------------------------------


@dataclass
class Corpus:
    raw: list[tuple[bytes, Origin]] = field(default_factory=list)  # records that normalize
    events: list[Event] = field(default_factory=list)  # the same records, normalized
    dead: Counter[str] = field(default_factory=Counter)  # file -> records dead-lettered
    files: int = 0


def _data_files(samples: Path) -> list[Path]:
    out = []
    for path in sorted(samples.rglob("*")):
        if not path.is_file() or "LICENSES" in path.relative_to(samples).parts:
            continue
        if path.suffix == ".md" or path.name.endswith(".paths.txt") or path.parent == samples:
            continue  # documentation, provenance lists, the folder index
        out.append(path)
    return out


def load_corpus(samples: Path) -> Corpus:
    corpus = Corpus()
    normalizer = Normalizer()
    for path in _data_files(samples):
        corpus.files += 1
        for payload, origin in iter_records(path):
            outcome = normalizer.normalize(payload, origin)
            if outcome.event is None:
                corpus.dead[str(path.relative_to(samples))] += 1
                continue
            corpus.raw.append((payload, origin))
            corpus.events.append(outcome.event)
    return corpus


def stream_order(unique: int, target: int, seed: int = 1) -> list[int]:
    """Indexes into the corpus: whole passes, each a fresh shuffle, until ``target`` is reached."""
    if unique <= 0:
        raise ValueError("no events to build a stream from")
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < target:
        one = list(range(unique))
        rng.shuffle(one)
        order.extend(one)
    return order


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Rates:
    """Events per CPU-second over parts of one timed stream."""

    first10k: float
    first_pass: float
    steady: float
    whole: float
    hits: int  # over the whole stream
    seconds: float


def timed(fn: Callable[[Any], int], items: Sequence[Any], unique: int) -> Rates:
    """Run ``fn`` over ``items``, reading the process CPU clock every CHUNK items."""
    marks = [0.0]
    hits = 0
    started = time.process_time()
    for lo in range(0, len(items), CHUNK):
        for item in items[lo : lo + CHUNK]:
            hits += fn(item)
        marks.append(time.process_time() - started)

    def rate(lo: int, hi: int) -> float:
        a, b = lo // CHUNK, min(len(marks) - 1, -(-hi // CHUNK))
        events = min(hi, len(items)) - a * CHUNK
        return events / max(1e-9, marks[b] - marks[a])

    n = len(items)
    return Rates(
        first10k=rate(0, FIRST),
        first_pass=rate(0, unique),
        steady=rate((n // 2) // CHUNK * CHUNK, n),
        whole=rate(0, n),
        hits=hits,
        seconds=marks[-1],
    )


def _rss_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return float("nan")


def _peak_rss_mb(usage: resource.struct_rusage) -> float:
    return usage.ru_maxrss / 1024  # kB on Linux


# --- child processes -------------------------------------------------------------------------------


def _child(argv: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run a child process; its JSON output, its CPU seconds (user + sys) and peak RSS (MiB)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[2:4]} exited {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_utime + usage.ru_stime, _peak_rss_mb(usage)


def _load_child(cache_dir: str, folders: list[str]) -> dict[str, Any]:
    """In the child: load the rules, say what it took."""
    cpu = time.process_time()
    ruleset = load_rules([Path(f) for f in folders], cache_dir=Path(cache_dir))
    loaded = time.process_time()
    engine = SigmaEngine(ruleset)
    done = time.process_time()
    return {
        "rules": engine.report.loaded,
        "files": ruleset.files,
        "cached_files": ruleset.cached_files,
        "lanes": len(engine.lanes()),
        "parse_cpu": loaded - cpu,
        "load_cpu": done - cpu,
        "startup_cpu": cpu,
    }


def _row_child(row: str, cache_dir: str, samples: str, events: int, seed: int, folders: list[str]) -> dict[str, Any]:
    """In the child: one row of the tables, from a fresh process (no other row's warm-up or garbage)."""
    corpus = load_corpus(Path(samples))
    unique = len(corpus.events)
    order = stream_order(unique, events, seed)
    rss0 = _rss_mb()
    load_started = time.process_time()
    ruleset = load_rules([Path(f) for f in folders], cache_dir=Path(cache_dir))
    if row == "subset":
        from bench_detect import subset

        ruleset = subset(ruleset, SUBSET_RULES)
    engine = SigmaEngine(ruleset, eager=row != "lazy")
    out: dict[str, Any] = {"load_cpu": time.process_time() - load_started, "engine_rss": _rss_mb() - rss0}
    stream = [corpus.events[i] for i in order]
    match = engine.match
    if row in ("engine", "lazy", "subset"):
        rates = timed(lambda event: len(match(event)), stream, unique)
        busiest = sorted(engine.lanes(), key=lambda lane: -lane.stats.events)[:6]
        out["lanes"] = [
            (lane.pipeline.name, len(lane.rules), lane.stats.events, lane.stats.candidates, lane.stats.evaluated)
            for lane in busiest
        ]
        out["lane_count"] = len(engine.lanes())
        out["lane_events"] = sum(lane.stats.events for lane in engine.lanes())
    elif row == "naive":
        rates = timed(NaiveMatcher(engine).match, stream[:unique], unique)
    elif row == "sqlite":
        result = sqlite_rate(engine, stream[:unique])
        if isinstance(result, str):
            return {"skipped": result}
        note, rate, hits, _ = result
        return {**out, "note": note, "rate": rate, "hits": hits}
    elif row in ("e2e", "normalize"):
        normalizer = Normalizer()
        raw = [corpus.raw[i] for i in order]
        del stream
        if row == "e2e":

            def one(item: tuple[bytes, Origin]) -> int:
                outcome = normalizer.normalize(item[0], item[1])
                return len(match(outcome.event)) if outcome.event is not None else 0
        else:

            def one(item: tuple[bytes, Origin]) -> int:
                normalizer.normalize(item[0], item[1])
                return 0

        rates = timed(one, raw, unique)
    else:
        raise SystemExit(f"unknown row {row}")
    return {**out, **asdict(rates)}


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


# --- the alternatives ----------------------------------------------------------------------------


class NaiveMatcher:
    """Every compiled rule tried on every event: its log source checked against the event's, then its
    condition evaluated, no prefilter. Field reading is the engine's (same pipelines, same results)."""

    def __init__(self, engine: SigmaEngine) -> None:
        self.engine = engine
        self._sources: dict[tuple[Any, ...], tuple[EventSource, ...]] = {}
        self._probes: dict[str, Lane] = {}  # a lane without rules: the pipeline's view() and texts()

    def match(self, event: Event) -> int:
        key = route_key(event)
        sources = self._sources.get(key)
        if sources is None:
            sources = self._sources[key] = tuple(describe(key))
        readers = [self._reader(s.pipeline, event) for s in sources]
        hits = 0
        for rule in self.engine.rules:
            logsource = rule.ir.logsource
            for source, (get, texts) in zip(sources, readers, strict=True):
                if source.accepts(logsource):
                    if rule.compiled.pred(get, texts) and all(keep(get, texts) for _, keep in rule.filters):
                        hits += 1
                    break  # a rule sits in the first source that accepts it, as in the engine
        return hits

    def _reader(self, name: str, event: Event) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
        probe = self._probes.get(name)
        if probe is None:
            probe = self._probes[name] = Lane(pipeline(name), [])
        orig = probe.view(event.get("original") or {})
        special = probe.pipeline.special

        def get(fname: str) -> Any:
            acc = special(fname)
            return orig.get(fname) if acc is None else acc(event, orig)

        return get, probe.texts(orig)


def sqlite_rate(engine: SigmaEngine, events: list[Event]) -> tuple[str, float, int, int] | str:
    try:
        from bench_detect import SqliteBench
    except ImportError as exc:  # pragma: no cover - bench_detect sits next to this file
        return f"skipped: {exc}"
    try:
        import sigma.backends.sqlite  # noqa: F401
    except ImportError:
        return "skipped: pysigma-backend-sqlite is not installed (pip install -e '.[bench]')"
    started = time.perf_counter()
    bench = SqliteBench(engine, events)
    convert = time.perf_counter() - started
    cpu = time.process_time()
    hits = bench.run()
    cpu = time.process_time() - cpu
    return (f"{bench.queries} queries, converted in {convert:.0f}s (not timed)", len(events) / cpu, hits, bench.queries)


@dataclass
class RsigmaRun:
    load_cpu: float
    cpu: float
    peak_rss: float
    detections: int
    events: int


def rsigma_run(binary: str, folders: list[Path], docs: Iterable[bytes], work: Path) -> RsigmaRun:
    """``rsigma engine eval`` over JSON lines; one run without events (its load), one with."""
    rules = work / "rules"
    rules.mkdir()
    for folder in folders:  # one -r path: the three folders copied under one root
        shutil.copytree(folder, rules / folder.name)
    events_file = work / "events.jsonl"
    count = 0
    with events_file.open("wb") as out:
        for doc in docs:
            out.write(doc + b"\n")
            count += 1
    empty = work / "empty.jsonl"
    empty.write_bytes(b"")

    def one(path: Path) -> tuple[float, float, int]:
        with (work / "out.jsonl").open("wb") as sink:
            proc = subprocess.Popen(
                [binary, "engine", "eval", "-r", str(rules), "-e", f"@{path}"], stdout=sink, stderr=subprocess.DEVNULL
            )
            _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: --fail-on-detection style exits
            raise RuntimeError(f"rsigma exited {os.waitstatus_to_exitcode(status)}")
        with (work / "out.jsonl").open("rb") as fh:
            lines = sum(1 for _ in fh)
        return usage.ru_utime + usage.ru_stime, _peak_rss_mb(usage), lines

    load_cpu, _, _ = one(empty)
    cpu, rss, lines = one(events_file)
    return RsigmaRun(load_cpu, cpu, rss, lines, count)


# --- main ----------------------------------------------------------------------------------------


def _fmt_rate(rate: float | None) -> str:
    return f"{rate:>10,.0f}" if rate is not None else f"{'-':>10s}"


SUBSET_RULES = 100
ROWS = {
    "engine": "engine, lanes built at load",
    "lazy": "engine, lanes on first use",
    "subset": f"engine, {SUBSET_RULES} random rules",
    "naive": "naive per-rule, every rule",
    "sqlite": "pySigma SQLite (Zircolite)",
    "e2e": "ttpflow normalize + match",
    "normalize": "normalize alone",
}


def main(args: argparse.Namespace) -> None:
    folders = [args.sigma / name for name in RULE_FOLDERS if (args.sigma / name).is_dir()]
    if not folders or not args.samples.is_dir():
        print(f"real-telemetry mode needs {args.sigma}/rules* and {args.samples}: not found, nothing measured")
        return
    with tempfile.TemporaryDirectory(prefix="ttpflow-bench-") as tmp:
        _run(args, folders, Path(tmp))


def _run(args: argparse.Namespace, folders: list[Path], tmp: Path) -> None:
    cache = tmp / "cache"
    print("== rule load: rules/, rules-emerging-threats/, rules-threat-hunting/, a fresh process each ==")
    print(
        f"{'':24s} {'rules':>6s} {'lanes':>6s} {'load CPU':>9s} {'of which parse':>15s} "
        f"{'process CPU':>12s} {'peak RSS':>9s}"
    )
    for label in ("cold (no rule cache)", "warm (rule cache)"):
        info, cpu, rss = _child(_self("--load-child", str(cache), *map(str, folders)))
        print(
            f"{label:24s} {info['rules']:6d} {info['lanes']:6d} {info['load_cpu']:8.2f}s "
            f"{info['parse_cpu']:14.2f}s {cpu:11.2f}s {rss:7.0f} MiB"
        )

    started = time.process_time()
    corpus = load_corpus(args.samples)
    unique = len(corpus.events)
    if not unique:
        print(f"\nno record under {args.samples} normalized: nothing to match")
        return
    formats = Counter(e["source_format"] for e in corpus.events)
    print(
        f"\n== events: {unique:,} records from {corpus.files} files, normalized in "
        f"{time.process_time() - started:.1f}s CPU: " + ", ".join(f"{k} {v:,}" for k, v in formats.most_common())
    )
    if corpus.dead:
        print("   dead-lettered by the normalizer, left out: " + ", ".join(f"{k} {v}" for k, v in corpus.dead.items()))
    order = stream_order(unique, args.events, args.seed)
    kinds = len({route_key(e) for e in corpus.events})
    print(f"   stream: {len(order):,} events = {len(order) // unique} shuffled passes; {kinds} route keys (kinds)")

    rows: dict[str, tuple[dict[str, Any], float, float]] = {}
    for row in ROWS:
        if (row == "naive" and args.no_naive) or (row == "sqlite" and args.no_sqlite):
            continue
        print(f"   {ROWS[row]} ...", flush=True)
        argv = _self("--row", row, str(cache), str(args.samples), str(args.events), str(args.seed))
        rows[row] = _child([*argv, *map(str, folders)])
        if "skipped" in rows[row][0]:
            print(f"   {ROWS[row]}: {rows[row][0]['skipped']}")
            del rows[row]

    rs: RsigmaRun | None = None
    binary = shutil.which("rsigma")
    if binary is None:
        print("   rsigma: no `rsigma` binary on PATH, skipped (`cargo install rsigma` needs the Rust registry)")
    else:
        print(f"   rsigma ({binary}) engine eval on the same stream ...", flush=True)
        docs = (orjson.dumps(corpus.events[i].get("original") or {}, default=str) for i in order)
        work = tmp / "rsigma"
        work.mkdir()
        rs = rsigma_run(binary, folders, docs, work)
    _report(rows, rs, unique, len(order))
    if args.profile:
        _profile(args, folders, cache, tmp)


def _profile(args: argparse.Namespace, folders: list[Path], cache: Path, tmp: Path) -> None:
    """The end-to-end row again under py-spy (sampling, so its rates are not reported): top frames."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("\nprofile: py-spy is not installed (pip install -e '.[bench]'), skipped")
        return
    out = tmp / "profile.txt"
    argv = _self("--row", "e2e", str(cache), str(args.samples), str(args.events), str(args.seed), *map(str, folders))
    subprocess.run(
        [spy, "record", "-f", "raw", "-r", "250", "-o", str(out), "--", *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f]
        if not any(f.startswith("timed ") for f in frames):
            continue  # corpus and rule loading: not the per-event path
        n = int(count)
        total += n
        own[_frame(frames[-1])] += n
        for name in {_frame(f) for f in frames}:
            inclusive[name] += n
    print(f"\n== py-spy, normalize + match end to end, per-event path only ({total} samples at 250 Hz) ==")
    print("inclusive:")
    for name, n in inclusive.most_common(args.profile_top):
        print(f"  {n / total:6.1%}  {name}")
    print("own (self) time:")
    for name, n in own.most_common(args.profile_top):
        print(f"  {n / total:6.1%}  {name}")


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: lines merged per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')').rpartition(':')[0]).name})" if where else name


def _report(
    rows: dict[str, tuple[dict[str, Any], float, float]], rs: RsigmaRun | None, unique: int, events: int
) -> None:
    engine = rows["engine"][0]
    steady = engine["steady"]
    print(
        f"\n== matcher alone: {events:,} events, one core, events per CPU-second; "
        f"'engine is': engine steady state / this row's steady (or only) rate =="
    )
    head = f"{'':30s} {'first 10k':>10s} {'first pass':>10s} {'steady':>10s} {'whole':>10s} {'hits':>8s}"
    print(f"{head} {'engine is':>9s} {'peak RSS':>9s}")
    for key in ("engine", "lazy", "subset"):
        if key in rows:
            r, _, rss = rows[key]
            print(
                f"{ROWS[key]:30s} {_fmt_rate(r['first10k'])} {_fmt_rate(r['first_pass'])} {_fmt_rate(r['steady'])} "
                f"{_fmt_rate(r['whole'])} {r['hits']:8d} {steady / r['steady']:8.2f}x {rss:6.0f} MiB"
            )
    pass_hits = engine["hits"] * unique // events
    for key in ("naive", "sqlite"):
        if key in rows:
            r, _, rss = rows[key]
            rate = r.get("rate", r.get("whole"))
            note = r.get("note", "")
            print(
                f"{ROWS[key]:30s} {'-':>10s} {_fmt_rate(rate)} {'-':>10s} {'-':>10s} {r['hits']:8d} "
                f"{steady / rate:8.1f}x {rss:6.0f} MiB  first pass only{'; ' + note if note else ''}"
            )
    if rs is not None:
        rate = rs.events / max(1e-9, rs.cpu - rs.load_cpu)
        print(
            f"{'rsigma engine eval':30s} {'-':>10s} {'-':>10s} {'-':>10s} {_fmt_rate(rate)} {rs.detections:8d} "
            f"{steady / rate:8.2f}x {rs.peak_rss:6.0f} MiB  parse + match + write, its load "
            f"({rs.load_cpu:.2f}s) left out"
        )
    if "subset" in rows:
        small = rows["subset"][0]
        # Per routed lane-event (an event meeting one lane): with few rules most events meet none.
        per_full = engine["seconds"] / max(1, engine["lane_events"]) * 1e6
        per_small = small["seconds"] / max(1, small["lane_events"]) * 1e6
        print(
            f"cost from {SUBSET_RULES} rules to the full set: x{small['steady'] / steady:.2f} per event (steady), "
            f"x{per_full / per_small:.2f} per routed lane-event ({per_small:.1f} -> {per_full:.1f} µs, whole "
            f"stream; lane-events per event {small['lane_events'] / events:.2f} -> "
            f"{engine['lane_events'] / events:.2f})"
        )
    print(
        f"engine first-pass hits: {pass_hits} per pass; first 10k events at "
        f"{engine['first10k'] / steady:.2f} of the steady-state rate; engine RSS after load "
        f"{engine['engine_rss']:.0f} MiB ({engine['lane_count']} lanes)"
    )

    print("\n== normalize + match end to end: raw record bytes in, partial hits out, one core ==")
    print(f"{'':30s} {'first 10k':>10s} {'first pass':>10s} {'steady':>10s} {'whole':>10s} {'µs/event':>9s}")
    for key in ("e2e", "normalize"):
        if key in rows:
            r = rows[key][0]
            print(
                f"{ROWS[key]:30s} {_fmt_rate(r['first10k'])} {_fmt_rate(r['first_pass'])} {_fmt_rate(r['steady'])} "
                f"{_fmt_rate(r['whole'])} {1e6 / r['steady']:9.1f}"
            )
    if rs is not None and "e2e" in rows:
        whole = rs.events / rs.cpu
        print(
            f"{'rsigma, load included':30s} {'-':>10s} {'-':>10s} {'-':>10s} {_fmt_rate(whole)} "
            f"{1e6 / whole:9.1f}   ttpflow / rsigma, whole stream: {rows['e2e'][0]['whole'] / whole:.2f}"
        )
    if "e2e" in rows:
        e2e = rows["e2e"][0]
        print(f"first 10k events end to end at {e2e['first10k'] / e2e['steady']:.2f} of the steady-state rate")
    print("\nbusiest lanes, engine row (pipeline, rules, events, candidates/event, evaluated/event):")
    for name, rules, seen, candidates, evaluated in engine["lanes"]:
        print(
            f"  {name:14s} {rules:5d} rules {seen:8d} events {candidates / max(1, seen):6.2f} "
            f"{evaluated / max(1, seen):6.2f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load-child"]:
        print(json.dumps(_load_child(sys.argv[2], sys.argv[3:])))
    elif sys.argv[1:2] == ["--row"]:
        row, cache_dir, samples, events, seed, *folders = sys.argv[2:]
        print(json.dumps(_row_child(row, cache_dir, samples, int(events), int(seed), folders)))
