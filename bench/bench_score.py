"""What scoring costs in the per-event Python step: the analyze step with and without each hit's
risk, and ``Scorer.hit`` alone, on the benchmark mix (bench/mix.py; needs ../shared/samples).

    .venv/bin/python bench/bench_score.py [--events 20000] [--assets rules/assets/inventory.yaml]

CPU time, best of 5; prints µs per event and per hit, and the bytes the risk adds to a signal.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mix import generate  # noqa: E402

from schemas.config import JobConfig  # noqa: E402
from udfs.analyze import Analyzer  # noqa: E402


def best_of(n: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--assets", default=str(ROOT / "rules" / "assets" / "inventory.yaml"))
    args = parser.parse_args()
    events = generate(args.events, 2_000, 1)
    analyzer = Analyzer(JobConfig(assets_path=args.assets))
    hits: list[dict[str, Any]] = []
    rows, scorer = analyzer.hit_rows, analyzer.hit_rows.scorer
    original_row, real_hit = rows.row, scorer.hit
    rows.row = lambda hit, event: (hits.append(hit), original_row(hit, event))[1]  # type: ignore[method-assign]
    for i, payload in enumerate(events):
        analyzer.analyze("kafka", "raw", 0, i, payload)
    rows.row = original_row  # type: ignore[method-assign]

    def analyze_all() -> None:
        for i, payload in enumerate(events):
            analyzer.analyze("kafka", "raw", 0, i, payload)

    with_risk = best_of(5, analyze_all)
    scorer.hit = lambda hit: None  # type: ignore[method-assign,assignment,return-value]
    without = best_of(5, analyze_all)
    scorer.hit = real_hit  # type: ignore[method-assign]
    per_hit = best_of(5, lambda: [real_hit(h) for h in hits] and None)
    risk_bytes = sum(len(orjson.dumps(real_hit(h))) for h in hits) / len(hits)
    n = len(events)
    print(f"{n} events, {len(hits)} hits ({len(hits) / n:.1%}), assets {args.assets}")
    print(f"analyze: {with_risk / n * 1e6:.1f} µs/event with the risk, {without / n * 1e6:.1f} without")
    print(f"Scorer.hit: {per_hit / len(hits) * 1e6:.1f} µs/hit; the risk adds {risk_bytes:.0f} bytes to a signal")


if __name__ == "__main__":
    main()
