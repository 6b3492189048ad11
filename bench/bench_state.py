"""What one keyed-state operation costs a PyFlink KeyedProcessFunction, per execution mode.

    .venv/bin/python bench/bench_state.py [--records 20000] [--modes process,thread]

Each variant runs the same keyed job (MiniCluster, parallelism 1, the job's bundle and cache
settings) on ``--records`` records over 2,000 keys, and a stateless variant is run alongside as the
reference; the table shows the extra µs per record each kind of state work adds. This is why the
correlate path, which buffers every hit in keyed state until the watermark, bounds the job.
"""

from __future__ import annotations

import argparse
import os
import random
import site
import subprocess
import sys
import time

VARIANTS = ("stateless", "value_read", "value_write", "timer", "map_put", "map_put_timer")


def run_variant(variant: str, records: int, mode: str) -> float:
    from pyflink.common import Configuration, Duration, WatermarkStrategy
    from pyflink.common.typeinfo import Types
    from pyflink.common.watermark_strategy import TimestampAssigner
    from pyflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.execution-mode", mode)
    if mode == "thread":
        conf.set_string("python.pythonpath", os.pathsep.join(site.getsitepackages()))
    for key, value in {
        "python.fn-execution.bundle.size": "5000",
        "python.fn-execution.bundle.time": "200",
        "python.state.cache-size": "10000",
        "python.map-state.read-cache-size": "10000",
        "python.map-state.write-cache-size": "10000",
    }.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    rng = random.Random(1)
    data = [
        {"key": f"h{rng.randrange(2000)}", "ts": 1_700_000_000_000 + i * 10 + rng.randrange(5000), "pad": "x" * 300}
        for i in range(records)
    ]

    class Ts(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):  # type: ignore[no-untyped-def]
            return value["ts"]

    class Work(KeyedProcessFunction):
        def open(self, runtime_context):  # type: ignore[no-untyped-def]
            self.value = runtime_context.get_state(ValueStateDescriptor("v", Types.STRING()))
            self.map = runtime_context.get_map_state(MapStateDescriptor("m", Types.LONG(), Types.STRING()))

        def process_element(self, value, ctx):  # type: ignore[no-untyped-def]
            ts = value["ts"]
            if variant == "value_read":
                self.value.value()
            elif variant == "value_write":
                self.value.update(value["pad"])
            elif variant == "timer":
                ctx.timer_service().register_event_time_timer(ts)
            elif variant in ("map_put", "map_put_timer"):
                self.map.put(ts, value["pad"])
                if variant == "map_put_timer":
                    ctx.timer_service().register_event_time_timer(ts)
            return []

        def on_timer(self, timestamp, ctx):  # type: ignore[no-untyped-def]
            if variant == "map_put_timer":
                self.map.get(timestamp)
                self.map.remove(timestamp)
            return []

    stream = (
        env.from_collection(data)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(10)).with_timestamp_assigner(Ts())
        )
        .key_by(lambda v: v["key"], key_type=Types.STRING())
        .process(Work())
    )
    started = time.monotonic()
    with stream.execute_and_collect() as results:
        for _ in results:
            pass
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--modes", default="process,thread")
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(run_variant(args.one[0], args.records, args.one[1]))
        return
    print(f"records: {args.records:,} over 2,000 keys; extra µs per record over the stateless run")
    print(f"{'variant':<16}" + "".join(f"{m:>12}" for m in args.modes.split(",")))
    seconds: dict[tuple[str, str], float] = {}
    for mode in args.modes.split(","):
        for variant in VARIANTS:
            # A fresh JVM per run: MiniCluster start-up is paid the same by every variant.
            out = subprocess.run([sys.executable, __file__, "--records", str(args.records), "--one", variant, mode],
                                 capture_output=True, text=True, check=False)
            lines = out.stdout.strip().splitlines()
            seconds[(variant, mode)] = float(lines[-1]) if out.returncode == 0 and lines else float("nan")
    for variant in VARIANTS:
        row = f"{variant:<16}"
        for mode in args.modes.split(","):
            extra = (seconds[(variant, mode)] - seconds[("stateless", mode)]) / args.records * 1e6
            row += f"{seconds[(variant, mode)]:>7.1f}s" if variant == "stateless" else f"{extra:>10.0f}µs"
            row += "  " if variant == "stateless" else ""
        print(row)


if __name__ == "__main__":
    main()
