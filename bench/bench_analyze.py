"""The per-event Python step alone, one core: µs per event of what ``AnalyzeFunction`` does per record.

    .venv/bin/python bench/bench_analyze.py [--events 20000] [--repeat 3] [--keep-raw]

Rows: ``analyze`` is :meth:`udfs.analyze.Analyzer.analyze` (normalize, detect, link inputs, the
signal with its redaction unless ``--keep-raw``); ``analyze + metrics`` adds the job's own metrics
(:mod:`udfs.metrics`, on in-memory instruments: what the wrapper feeds Flink's metric group).
Events: the throughput mix (``bench/mix.py``: the vendor samples re-hosted, ~15% hits) when
``../shared/samples`` is there, else the seed file repeated. CPU time (``time.process_time``), best
of ``--repeat``. No PyFlink: the Flink round trip is bench_throughput.py's business.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.config import JobConfig  # noqa: E402
from udfs.analyze import Analyzer  # noqa: E402


def _events(n: int) -> list[bytes]:
    from bench import mix

    if mix.SAMPLES.is_dir():
        return mix.generate(n, hosts=200)
    seed = [line for line in (ROOT / "samples" / "seed.jsonl").read_bytes().splitlines() if line.strip()]
    return [seed[i % len(seed)] for i in range(n)]


def _best(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-raw", action="store_true", help="signals keep the raw event (no redaction)")
    args = parser.parse_args()
    events = _events(args.events)
    try:
        config = JobConfig(keep_raw_in_signals=args.keep_raw)  # type: ignore[call-arg]
    except TypeError:  # a build before the option
        config = JobConfig()
    analyzer = Analyzer(config)
    analyze = analyzer.analyze
    for i, payload in enumerate(events[:2000]):  # warm-up: lazy rule lanes, caches
        analyze("file", "bench", 0, i, payload)

    def plain() -> None:
        for i, payload in enumerate(events):
            analyze("file", "bench", 0, i, payload)

    rows = [("analyze", _best(plain, args.repeat))]
    if getattr(config, "baseline_half_life_ms", None) is not None:  # adaptive baselines' keys: on vs off
        from dataclasses import replace

        off = Analyzer(replace(config, baseline_half_life_ms=None)).analyze
        for i, payload in enumerate(events[:2000]):
            off("file", "bench", 0, i, payload)

        def no_baselines() -> None:
            for i, payload in enumerate(events):
                off("file", "bench", 0, i, payload)

        rows.append(("analyze, --no-baselines", _best(no_baselines, args.repeat)))
        rows.append(("analyze (again)", _best(plain, args.repeat)))  # the machine's drift between the two
    try:
        from udfs.metrics import AnalyzeMetrics, MemoryGroup
    except ImportError:
        pass
    else:
        metrics = AnalyzeMetrics(MemoryGroup(), clock_ms=lambda: 0)

        def counted() -> None:
            for i, payload in enumerate(events):
                metrics.outcome(analyze("file", "bench", 0, i, payload))
            metrics.flush()

        rows.append(("analyze + metrics", _best(counted, args.repeat)))
    hits = sum(1 for i, p in enumerate(events[:5000]) if any(r[0] == "hit" for r in analyze("file", "b", 0, i, p).rows))
    print(f"{len(events)} events, {hits / min(len(events), 5000):.1%} with hits, best of {args.repeat}, CPU time")
    for name, seconds in rows:
        print(f"  {name:<24} {seconds / len(events) * 1e6:8.1f} µs/event")


if __name__ == "__main__":
    main()
