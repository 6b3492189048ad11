"""Sigma matching throughput, matcher alone, one core: the compiled engine against the alternatives.

    .venv/bin/python bench/bench_detect.py [--sigma ../shared/sigma] [--samples ../shared/samples]
                                          [--repeat 5] [--sample-rules 100] [--no-sqlite]
    .venv/bin/python bench/bench_detect.py --real [--events 200000] [--no-naive] [--no-sqlite]

``--real`` is the real-telemetry mode (``bench/detect_real.py``): every sample replicated into a
mixed stream of 200k events, from a cold start, first pass / first 10k / steady state, rule load
cold and cached, normalize + match end to end, naive, pySigma SQLite and rsigma (when on PATH)
side by side. Without it, the matcher alone, warmed up, as follows.

Same events and same rules for every row, in one run:

- ``engine, full set``: ``SigmaEngine`` over every SigmaHQ rule (rules*/): routing, one literal pass,
  candidates only. Warmed up first so every busy lane has finished learning its anchors.
- ``engine, 100 rules``: the same engine over a random 100 of those rules (seeded).
- ``naive per-rule``: the same compiled rules, each evaluated on every event of its log source
  (no prefilter): what the cost would be without the index.
- ``pySigma SQLite``: the rules converted by pysigma-backend-sqlite (the Zircolite approach): the
  events of each log source inserted into an in-memory table (one column per field, NOCASE), every
  rule's query run on it. Timed: table creation, inserts and queries; conversion is not timed.

Events: the development samples in ../shared/samples (Windows EVTX / NXLog / Winlogbeat, Zeek,
CloudTrail, Okta, Entra ID, auditd, Suricata), normalized once before timing with the job's
normalizer. Times are process CPU time (``time.process_time``), best of ``--repeat`` (5), so other load
on the machine counts as little as possible; the process is pinned to one CPU where the OS allows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from udfs.detect.sigma.engine import SigmaEngine  # noqa: E402
from udfs.detect.sigma.loader import RuleSet, load_rules  # noqa: E402
from udfs.detect.sigma.routing import route_key  # noqa: E402
from udfs.normalize.files import iter_records  # noqa: E402
from udfs.normalize.normalizer import Normalizer  # noqa: E402

Event = dict[str, Any]


def load_events(samples: Path) -> list[Event]:
    normalizer = Normalizer()
    events: list[Event] = []
    for path in sorted(samples.rglob("*")):
        if path.suffix not in (".jsonl", ".log", ".json"):
            continue
        for payload, origin in iter_records(path):
            outcome = normalizer.normalize(payload, origin)
            if outcome.event is not None:
                events.append(outcome.event)
    return events


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeat):
        started = time.process_time()
        result = fn()
        best = min(best, time.process_time() - started)
    return best, result


def engine_pass(engine: SigmaEngine, events: list[Event]) -> Callable[[], int]:
    match = engine.match_indexes

    def run() -> int:
        total = 0
        for event in events:
            total += len(match(event))
        return total

    return run


def warm(engine: SigmaEngine, events: list[Event], max_passes: int = 30) -> int:
    """Run until every lane that sees 1% of the events or more has left its learning windows."""
    for done in range(1, max_passes + 1):
        for event in events:
            engine.match_indexes(event)
        busy = [lane for lane in engine.lanes() if lane.stats.events * 100 >= len(events) * done]
        if not any(lane.learning for lane in busy):
            return done
    return max_passes


def naive_pass(engine: SigmaEngine, events: list[Event]) -> Callable[[], int]:
    prepared = []
    for event in events:
        for lane in engine.lanes_for(route_key(event)):
            prepared.append((lane, event))

    def run() -> int:
        total = 0
        for lane, event in prepared:
            orig = lane.view(event.get("original") or {})
            get, texts = lane.getter(event, orig), lane.texts(orig)
            for rule in lane.rules:
                if rule.pred(get, texts) and all(keep(get, texts) for keep in rule.filters):
                    total += 1
        return total

    return run


def subset(ruleset: RuleSet, count: int, seed: int = 1) -> RuleSet:
    rules = random.Random(seed).sample(ruleset.rules, min(count, len(ruleset.rules)))
    return RuleSet(rules=rules, files=len(rules))


# --- pySigma SQLite backend (Zircolite's approach) ------------------------------------------------


def _flatten(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(node, list):
        out[prefix] = ",".join(str(v) for v in node)
    elif node is not None:
        # Columns are TEXT, as Zircolite stores them; an integer beyond 64 bits would not bind anyway.
        out[prefix] = node if isinstance(node, str) else str(node)


def flat_event(event: Event) -> dict[str, Any]:
    """A row as Zircolite builds it: the vendor fields, nested ones as dotted columns."""
    row: dict[str, Any] = {}
    _flatten(event.get("original") or {}, "", row)
    return row


class SqliteBench:
    """Rules converted once; ``run()`` loads the events into per-lane tables and runs every query."""

    def __init__(self, engine: SigmaEngine, events: list[Event]) -> None:
        from sigma.backends.sqlite import sqliteBackend
        from sigma.collection import SigmaCollection

        self.groups: dict[int, tuple[list[dict[str, Any]], list[str], set[str]]] = {}
        lanes: dict[int, Any] = {}
        rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            for lane in engine.lanes_for(route_key(event)):
                lanes[id(lane)] = lane
                rows[id(lane)].append(flat_event(event))
        by_path: dict[str, Any] = {}
        self.failed: Counter[str] = Counter()
        for key, lane in lanes.items():
            backend = sqliteBackend(table=f"lane_{len(self.groups)}")
            queries: list[str] = []
            fields: set[str] = set()
            for lane_rule in lane.rules:
                ir = engine.rules[lane_rule.index].ir
                if ir.path not in by_path:
                    by_path[ir.path] = SigmaCollection.from_yaml(Path(ir.path).read_text(), collect_errors=True)
                for rule in by_path[ir.path].rules:
                    if str(rule.id) != ir.rule_id:
                        continue
                    try:
                        queries.extend(backend.convert_rule(rule))
                        fields |= set(backend.required_fields(rule))
                    except Exception as exc:  # the backend's own unsupported cases
                        self.failed[type(exc).__name__] += 1
            for row in rows[key]:
                fields |= set(row)
            self.groups[key] = (rows[key], queries, fields)
        self.queries = sum(len(q) for _, q, _ in self.groups.values())

    def run(self) -> int:
        connection = sqlite3.connect(":memory:")
        connection.create_function("regexp", 2, _regexp, deterministic=True)
        total = 0
        for number, (rows, queries, fields) in enumerate(self.groups.values()):
            table = f"lane_{number}"
            # SQLite column names ignore case: keep one spelling of each (rules spell some two ways).
            columns = sorted({f.lower(): f for f in sorted(fields)}.values())
            quoted = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns)
            connection.execute(f"CREATE TABLE {table} ({quoted})")
            marks = ", ".join("?" for _ in columns)
            lowered = [{k.lower(): v for k, v in row.items()} for row in rows]
            connection.executemany(
                f"INSERT INTO {table} VALUES ({marks})", ([row.get(c.lower()) for c in columns] for row in lowered)
            )
            for query in queries:
                with contextlib.suppress(sqlite3.Error):  # a query the backend produced but SQLite rejects
                    total += len(connection.execute(query).fetchall())
        connection.close()
        return total


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        compiled = _REGEX_CACHE[pattern] = re.compile(pattern)
    return compiled.search(str(value)) is not None


# --- main ---------------------------------------------------------------------------------------


def _pin() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not every OS lets a process pin itself
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _row(name: str, rules: int, events: int, seconds: float, hits: int, ref: float | None) -> str:
    rate = events / seconds if seconds else float("inf")
    ratio = f"{ref / rate:8.1f}x" if ref else "       -"
    return f"{name:28s} {rules:6d} {rate:14,.0f} {seconds / events * 1e6:10.2f} {hits:8d} {ratio}"


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=Path, default=ROOT.parent / "shared" / "sigma")
    parser.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sample-rules", type=int, default=100)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--real", action="store_true", help="real-telemetry mode (bench/detect_real.py)")
    parser.add_argument("--events", type=int, default=200_000, help="--real: events in the stream")
    parser.add_argument("--seed", type=int, default=1, help="--real: seed of the pass shuffles")
    parser.add_argument("--no-naive", action="store_true", help="--real: skip the naive per-rule row")
    parser.add_argument("--profile", action="store_true", help="--real: the end-to-end row again under py-spy")
    parser.add_argument("--profile-top", type=int, default=15, help="--profile: frames listed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    _pin()
    if args.real:
        import detect_real

        detect_real.main(args)
        return

    started = time.perf_counter()
    ruleset = load_rules(sorted(args.sigma.glob("rules*")), cache_dir=True)
    full = SigmaEngine(ruleset)
    print(
        f"rules: {full.report.loaded} loaded from {ruleset.files} files "
        f"({len(full.report.unsupported)} unsupported, {len(full.report.disabled)} need placeholders); "
        f"load {time.perf_counter() - started:.2f}s (parse {ruleset.seconds:.2f}s, "
        f"{ruleset.cached_files} files from cache, compile {full.report.compile_seconds:.2f}s)"
    )
    events = load_events(args.samples)
    formats = Counter(e["source_format"] for e in events)
    print(f"events: {len(events)} normalized sample events: " + ", ".join(f"{k} {v}" for k, v in formats.most_common()))

    small = SigmaEngine(subset(ruleset, args.sample_rules))
    passes = (warm(full, events), warm(small, events))
    for engine in (full, small):
        engine.stop_learning()  # lanes below 1% of the traffic would otherwise re-index mid-measure
    print(
        f"warm-up: {passes[0]} / {passes[1]} passes over the events until lanes with 1%+ of the events "
        f"stopped learning; then anchors frozen"
    )

    rows: list[tuple[str, int, float, int]] = []
    seconds, hits = best_of(args.repeat, engine_pass(full, events))
    rows.append(("engine, full set", full.report.loaded, seconds, hits))
    seconds, hits = best_of(args.repeat, engine_pass(small, events))
    rows.append((f"engine, {args.sample_rules} rules", small.report.loaded, seconds, hits))
    seconds, hits = best_of(1, naive_pass(full, events))
    rows.append(("naive per-rule, full set", full.report.loaded, seconds, hits))
    if not args.no_sqlite:
        convert_started = time.perf_counter()
        sql = SqliteBench(full, events)
        print(
            f"sqlite: {sql.queries} queries converted by pysigma-backend-sqlite in "
            f"{time.perf_counter() - convert_started:.1f}s (not timed); conversion failures: "
            f"{dict(sql.failed) or 'none'}"
        )
        seconds, hits = best_of(1, sql.run)
        rows.append(("pySigma SQLite (Zircolite)", sql.queries, seconds, hits))

    reference = len(events) / rows[0][2]
    lane_events = {id(e): len(e_lanes) for e, e_lanes in ((e, full.lanes_for(route_key(e))) for e in events)}
    small_lane_events = sum(len(small.lanes_for(route_key(e))) for e in events)
    print(
        f"\nrouted lane-events: full set {sum(lane_events.values())}, {args.sample_rules} rules "
        f"{small_lane_events} (events whose log source has no rule cost only the routing)"
    )
    print(
        f"per routed lane-event: full set {rows[0][2] / max(1, sum(lane_events.values())) * 1e6:.2f} us, "
        f"{args.sample_rules} rules {rows[1][2] / max(1, small_lane_events) * 1e6:.2f} us"
    )
    print()
    print(f"{'matcher':28s} {'rules':>6s} {'events/s':>14s} {'us/event':>10s} {'hits':>8s} {'full is':>9s}")
    for name, rules, seconds, hits in rows:
        print(_row(name, rules, len(events), seconds, hits, reference if name != rows[0][0] else None))
    print(f"\ncost from {args.sample_rules} to {full.report.loaded} rules: x{rows[0][2] / rows[1][2]:.2f} per event")
    busiest = sorted(full.lanes(), key=lambda lane: -lane.stats.events)[:5]
    print("busiest lanes (rules, events seen, candidates/event, evaluated/event):")
    for lane in busiest:
        s = lane.stats
        print(
            f"  {lane.pipeline.name:14s} {len(lane.rules):5d} rules {s.events:8d} events "
            f"{s.candidates / max(1, s.events):6.2f} {s.evaluated / max(1, s.events):6.2f}"
        )


if __name__ == "__main__":
    main()
