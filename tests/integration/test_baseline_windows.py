"""The baseline windows in a real Flink run (jobs.pipeline.baseline_updates over udfs.baseline.sql):
hits' baseline keys counted per event-time hour, one ``baseline`` context update per key and closed
window, which the handler turns into the decayed counts the ``technique_rarity`` factor reads.

The graph is the job's own function over a small view of analyzed rows (kind, time and keys), run in a
subprocess so that this test process starts no JVM."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.integration.jobrun import PROJECT_ROOT
from udfs.baseline.factor import technique_rarity
from udfs.baseline.handler import baselines_of
from udfs.context.live import LiveContext
from udfs.context.updates import decode
from udfs.link.inventory import AssetContext
from udfs.score.subject import Observation, Subject

H = 3_600_000
T0 = 1_700_000_000_000 // H * H

GRAPH = textwrap.dedent("""
    import json, sys
    from pyflink.common import Row
    from pyflink.common.typeinfo import Types
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import Schema, StreamTableEnvironment

    from jobs.pipeline import baseline_updates
    from schemas.config import JobConfig

    rows = [Row(kind, ts, keys) for kind, ts, keys in json.loads(sys.argv[1])]
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set_local_timezone("UTC")
    hits = env.from_collection(rows, type_info=Types.ROW_NAMED(
        ["kind", "ts", "keys"], [Types.STRING(), Types.LONG(), Types.MAP(Types.STRING(), Types.STRING())]))
    t_env.create_temporary_view("analyzed", t_env.from_data_stream(hits, Schema.new_builder().column_by_expression(
        "rt", "TO_TIMESTAMP_LTZ(ts, 3)").watermark("rt", "rt - INTERVAL '1' SECOND").build()))
    assert baseline_updates(t_env, JobConfig(baseline_half_life_ms=None), "analyzed") is None
    updates = baseline_updates(t_env, JobConfig(baseline_half_life_ms=86_400_000), "analyzed")
    with updates.execute_and_collect() as results:
        for text in results:
            print("UPDATE " + text)
""")


def test_hits_become_one_baseline_update_per_key_and_closed_hour() -> None:
    hits: list[tuple[str, int, dict[str, str]]] = []
    for h in range(30):  # 30 hours of a build server's routine: 4 obfuscation hits an hour, a script now and then
        for m in range(4):
            keys = "role:build_server|T1027" + (",role:build_server|T1059" if m == 0 and h % 10 == 0 else "")
            hits.append(("hit", T0 + h * H + m * 600_000, {"~base": keys}))
    hits.append(("hit", T0 + 31 * H, {"rule@group": "no baseline key"}))  # a hit without one: not counted
    hits.append(("held", T0 + 31 * H, {"~base": "host:lab-1|T1048"}))  # not a hit (yet): not counted
    hits.append(("hit", T0 + 31 * H + 1, {"~base": "host:lab-1|T1048"}))
    proc = subprocess.run([sys.executable, "-c", GRAPH, json.dumps(hits)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    updates = [decode(line.removeprefix("UPDATE ")) for line in proc.stdout.splitlines() if line.startswith("UPDATE ")]
    by_key: dict[str, list[tuple[int, int]]] = {}
    for u in updates:
        assert u["kind"] == "baseline" and u["value"] is not None and u["value"]["half_life_ms"] == 86_400_000
        by_key.setdefault(u["key"], []).append((u["value"]["window_end"], u["value"]["count"]))
    assert sorted(by_key["role:build_server|T1027"]) == [(T0 + (h + 1) * H, 4) for h in range(30)]
    assert sorted(by_key["role:build_server|T1059"]) == [(T0 + (h + 1) * H, 1) for h in (0, 10, 20)]
    assert by_key["host:lab-1|T1048"] == [(T0 + 32 * H, 1)]  # the end of input closes the last window
    assert len(updates) == 34

    live = LiveContext()  # through the context mechanism, as the scorers get them
    live.apply_all(updates)
    baselines = baselines_of(live)
    assert baselines is not None
    build = {"build-1": AssetContext(name="build-1", role="build_server")}

    def weight(technique: str) -> float:
        obs = Observation(ref="e", host="build-1", user=None, techniques=(technique,), tactics=())
        return technique_rarity(baselines, Subject(level="high", observations=(obs,), tactics=(), assets=build))[
            "weight"]

    assert weight("T1027") < 1.0 < weight("T1048")
