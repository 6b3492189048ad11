"""Correlation throughput and state size: 100,000 entities, 50 rules.

    .venv/bin/python bench/bench_correlate.py [--entities 100000] [--rules 50] [--hits-per-entity 4]
    .venv/bin/python bench/bench_correlate.py --flink 200000      # also the real job (MiniCluster, files)

The engine figure runs the link + fan-out + keyed-correlate code of the job in one process through
the event-time harness (udfs.testing.harness): what one Python worker can do, without Flink's
transport and state backend. State bytes are the versioned JSON values the operators keep in
MapState (partial matches and windows), measured after the last hit and before the end-of-input
watermark closes everything, divided by the entities that hold any. With ``--flink`` the same kind of
events go through the whole job (normalize, detect, link, correlate, score) in the embedded
MiniCluster; that figure includes every stage and the Python/JVM exchange, on this machine's cores.

The rule mix: 35 sequences (2-3 steps; some with by, max_gap, absence, repeats), 10 Sigma
correlations (event_count, value_count, temporal, temporal_ordered, value_sum) and 5 tactic
progressions. Events: hosts with one address each; a tenth of the network steps arrive as
address-only (Zeek-shaped) events that must be linked; arrival jittered within the bound.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from schemas.correlation import SigmaCorrelation  # noqa: E402
from schemas.rules import SequenceRule, TacticProgressionRule  # noqa: E402
from udfs.correlate.engine import Correlation, RuleSet  # noqa: E402
from udfs.detect.catalog import default_catalog  # noqa: E402
from udfs.link.inventory import InventoryIndex  # noqa: E402
from udfs.link.resolve import Linker  # noqa: E402
from udfs.testing.harness import EventTimeHarness  # noqa: E402

T0 = 1_714_557_600_000
MIN = 60_000
BOUND = 60_000
TECHNIQUES = ["T1055", "T1071.001", "T1059.001", "T1068", "T1003.001", "T1021.002", "T1569.002", "T1082",
              "T1136.001", "T1098", "T1110.003", "T1078", "T1566.001", "T1204.002", "T1047", "T1053.005",
              "T1105", "T1218.011", "T1562.001", "T1070.001", "T1486", "T1041", "T1005", "T1018", "T1087"]
SIGMA_RULES = [f"00000000-0000-4000-8000-{i:012d}" for i in range(10)]


def rules(n: int, rng: random.Random) -> RuleSet:
    out = RuleSet()
    n_seq, n_sigma = round(n * 0.7), round(n * 0.2)
    for i in range(n_seq):
        steps: list[dict[str, Any]] = [{"techniques": [t]} for t in rng.sample(TECHNIQUES, rng.choice([2, 2, 3]))]
        if i % 7 == 1:
            steps[-1]["max_gap"] = "5m"
        if i % 7 == 2:
            steps[0]["count"] = 2
        if i % 7 == 3:
            steps.append({"techniques": [rng.choice(TECHNIQUES)], "absent": True, "max_gap": "10m"})
        body: dict[str, Any] = {"kind": "sequence", "id": f"seq-{i}", "title": f"seq {i}", "within": "30m",
                                "steps": steps}
        if i % 7 == 4:
            body["by"] = ["user.name"]
        out.sequences.append(SequenceRule.model_validate(body))
    kinds = ["event_count", "value_count", "temporal", "temporal_ordered", "value_sum"]
    for i in range(n_sigma):
        kind = kinds[i % len(kinds)]
        refs = rng.sample(SIGMA_RULES, 1 if kind in ("event_count", "value_count", "value_sum") else 2)
        ops = {"gte": 2.0 if kind in ("temporal", "temporal_ordered") else 3.0}
        fields = ("process.name",) if kind == "value_count" else ("source.bytes",) if kind == "value_sum" else ()
        if kind == "value_sum":
            ops = {"gt": 50_000.0}
        out.correlations.append(SigmaCorrelation.model_validate({
            "id": f"corr-{i}", "title": f"corr {i}", "type": kind,
            "refs": [{"ref": r, "ids": [r]} for r in refs], "group_by": ["host"], "timespan_ms": 10 * MIN,
            "condition": {"ops": ops, "fields": fields}, "source": "bench",
        }))
    for i in range(n - n_seq - n_sigma):
        out.progressions.append(TacticProgressionRule.model_validate({
            "kind": "tactic_progression", "id": f"prog-{i}", "title": f"prog {i}", "within": "1h",
            "min_tactics": 3 + i % 3, "ordered": i % 2 == 0,
        }))
    return out


def _event(name: str, ts: int, host: str | None, ip: str, user: str, *, zeek: bool = False) -> dict[str, Any]:
    event: dict[str, Any] = {
        "timestamp_ms": ts, "source_format": "zeek" if zeek else "plain_json", "parser_version": "bench/1",
        "raw_sha256": f"{abs(hash(name)):016x}"[:16], "id": name, "event": {}, "threat": {"technique_ids": []},
        "origin": {}, "original": {}, "process": {"name": f"p{hash(name) % 7}.exe"},
    }
    if zeek:
        event["host"] = {"ip": []}
        event["source"] = {"ip": ip, "bytes": 20_000}
        event["destination"] = {"ip": "185.220.101.34", "port": 443}
    else:
        event["host"] = {"name": host, "ip": [ip]}
        event["user"] = {"name": user}
        event["source"] = {"ip": ip, "bytes": 20_000}
    return event


def workload(entities: int, hits_per_entity: int, rng: random.Random) -> list[tuple[dict, list[dict]]]:
    catalog = default_catalog()
    items = []
    span = 60 * MIN
    for e in range(entities):
        host, ip, user = f"host-{e:06d}", f"10.{e >> 16 & 255}.{e >> 8 & 255}.{e & 255}", f"user{e % 5000}"
        start = T0 + rng.randrange(span)
        for k in range(hits_per_entity):
            ts = start + rng.randrange(0, 20 * MIN)
            zeek = rng.random() < 0.1
            event = _event(f"{host}-{k}", ts, host, ip, user, zeek=zeek)
            if rng.random() < 0.25:
                rule_id, techs = rng.choice(SIGMA_RULES), []
            else:
                rule_id, techs = "event:attck_technique", [rng.choice(TECHNIQUES)]
            hit = {"hit_id": f"{event['raw_sha256']}:{rule_id}", "timestamp_ms": ts, "rule_id": rule_id,
                   "rule_title": rule_id, "techniques": techs, "tactics": catalog.tactics_for_all(techs),
                   "host": None if zeek else host, "user": None if zeek else user, "event": event}
            items.append((event, [hit]))
        if hits_per_entity:  # the host shows its address before its first hit
            items.append((_event(f"{host}-boot", start - 1000, host, ip, user), []))
    items.sort(key=lambda it: it[0]["timestamp_ms"] + rng.randrange(0, BOUND - 1))  # arrival within the bound
    return items


def bench_engine(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    ruleset = rules(args.rules, rng)
    items = workload(args.entities, args.hits_per_entity, rng)
    hits = sum(len(h) for _, h in items)
    correlation = Correlation(ruleset)
    harness = EventTimeHarness(correlation, out_of_orderness_ms=BOUND, linker=Linker(InventoryIndex()),
                               watermark_every=100)
    started = time.perf_counter()
    for event, event_hits in items:
        harness.push(event, event_hits)
    pushed = time.perf_counter()
    state = _state_bytes(harness)
    harness.advance(2**62)
    elapsed = time.perf_counter() - started
    sample = [h[0] for _, h in items[:5000] if h]
    routed = sum(len(correlation.route(hit, 1)) for hit in sample) / max(1, len(sample))
    return {
        "entities": args.entities, "rules": len(ruleset), "events": len(items), "hits": hits,
        "hits_per_s": round(hits / elapsed), "seconds": round(elapsed, 1), "push_seconds": round(pushed - started, 1),
        "records_per_hit": round(routed, 2), "alerts": len(harness.alerts),
        "keys_with_state": state["keys"], "entities_with_state": state["entities"],
        "state_bytes_total": state["bytes"],
        "state_bytes_per_entity": round(state["bytes"] / max(1, state["entities"])),
        "state_bytes_per_key": round(state["bytes"] / max(1, state["keys"])),
        "binding_subjects": len(harness.table), "binding_bytes_per_subject": state["binding_per_subject"],
        "counters": correlation.counters.snapshot(),
    }


def _state_bytes(harness: EventTimeHarness) -> dict[str, Any]:
    """Bytes of the MapState values the operators would hold: one encoded entry per partial / window."""
    total, keys, entities = 0, 0, set()
    for stage in (harness.stage1, harness.stage2):
        for key, store in stage.partials.by_key.items():
            if not store:
                continue
            keys += 1
            entities.add(key.split("\x1f", 1)[1])
            total += sum(len(pid) + len(text) for pid, text in store.items())
    sample = list(harness.table.items())[:1000]
    per_subject = sum(len(s) + len(orjson.dumps(p)) for s, p in sample) / max(1, len(sample))
    return {"bytes": total, "keys": keys, "entities": len(entities), "binding_per_subject": round(per_subject)}


def _rules_dir(target: Path, ruleset: RuleSet) -> Path:
    """The bundled packs plus the benchmark's rules as rule files (Sigma correlations over ttpflow's
    own hit sources, so that the job's plain-JSON events feed them)."""
    import shutil

    import yaml

    shutil.copytree(ROOT / "rules", target)
    for rule in [*ruleset.sequences, *ruleset.progressions]:
        body = rule.model_dump(mode="json", exclude_defaults=True)
        body["kind"] = rule.kind
        (target / "sequences" / f"bench_{rule.id}.yaml").write_text(yaml.safe_dump(body))
    sources = ["event:attck_technique", "map:ttpflow-process-names"]
    for i, corr in enumerate(ruleset.correlations):
        condition: dict[str, Any] = dict(corr.condition.ops)
        if corr.condition.fields:
            condition["field"] = corr.condition.fields[0]
        doc = {"title": corr.title, "id": f"0000bead-0000-4000-8000-{i:012d}", "correlation": {
            "type": corr.type, "rules": sources[: len(corr.refs)], "group-by": ["host"], "timespan": "10m",
            "condition": condition,
        }}
        (target / "correlations" / f"bench_{corr.id}.yml").write_text(yaml.safe_dump(doc))
    return target


def bench_flink(n_events: int, entities: int, ruleset: RuleSet, seed: int) -> dict[str, Any]:
    """The whole job on files in the MiniCluster: plain-JSON events, half with technique ids."""
    rng = random.Random(seed)

    def lines(n: int) -> str:
        out = []
        for i in range(n):
            e = rng.randrange(entities)
            record = {"event_id": f"b{i}", "timestamp": T0 + i * 10 + rng.randrange(0, 5_000),
                      "host": f"host-{e:06d}", "user": f"user{e % 5000}",
                      "src_ip": f"10.{e >> 16 & 255}.{e >> 8 & 255}.{e & 255}",
                      "process_name": rng.choice(["explorer.exe", "powershell.exe", "rundll32.exe", "cmd.exe"])}
            if rng.random() < 0.5:
                record["attck_technique"] = rng.choice(TECHNIQUES)
            out.append(json.dumps(record))
        return "\n".join(out) + "\n"

    def job_seconds(tmp: Path, name: str, text: str, rules_dir: Path) -> float:
        src = tmp / f"{name}.jsonl"
        src.write_text(text)
        proc = subprocess.run([sys.executable, "-m", "jobs.cli", "run", "--input", str(src), "--output",
                               str(tmp / f"{name}-alerts.jsonl"), "--rules-dir", str(rules_dir)],
                              cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        done = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{") and '"job finished"' in x]
        return float(done[0]["seconds"])

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rules_dir = _rules_dir(tmp / "rules", ruleset)
        baseline = job_seconds(tmp, "empty", lines(10), rules_dir)  # MiniCluster start-up and shutdown
        total = job_seconds(tmp, "full", lines(n_events), rules_dir)
    return {"events": n_events, "rules": len(ruleset) + 6, "job_seconds": total, "startup_seconds": baseline,
            "events_per_s": round(n_events / max(0.1, total - baseline))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--hits-per-entity", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flink", type=int, default=0, metavar="EVENTS", help="also run the real job on this many")
    args = parser.parse_args()
    print("command: .venv/bin/python bench/bench_correlate.py " + " ".join(sys.argv[1:]))
    result = bench_engine(args)
    print(json.dumps(result, indent=2))
    print(f"engine: {result['hits_per_s']:,} hits/s over {result['entities']:,} entities x {result['rules']} rules; "
          f"{result['state_bytes_per_entity']:,} state bytes per entity with state "
          f"({result['state_bytes_per_key']:,} per (rule, entity) key), "
          f"{result['binding_bytes_per_subject']} bytes per address binding")
    if args.flink:
        flink = bench_flink(args.flink, args.entities, rules(args.rules, random.Random(args.seed)), args.seed)
        print(json.dumps({"flink": flink}, indent=2))
        print(f"job (MiniCluster, all stages): {flink['events_per_s']:,} events/s")


if __name__ == "__main__":
    main()
