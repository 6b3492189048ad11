"""The real job (Flink MiniCluster: SQL linking, MATCH_RECOGNIZE, the Python-path correlator) against
the pure-Python reference engine on the same randomized input: identical alerts, for every rule type.

Each seed makes a few hundred events over a handful of hosts and users: EDR technique ids, LOLBin
process names (the technique map), failed and successful logons, and Zeek connections that only
an address binding ties to a host. Timestamps fall on whole seconds so that windows and gaps are
hit exactly at their bounds, and the arrival order is shuffled within the out-of-orderness bound.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from schemas.config import JobConfig
from tests.integration.jobrun import PROJECT_ROOT, ZEEK_MAP, plain_event, run_files, write_jsonl, zeek_conn
from udfs.correlate.plan import CorrelationPlan
from udfs.correlate.rules import load_ruleset
from udfs.testing.reference import reference_alerts

T0 = 1_714_557_600_000
BOUND_MS = 60_000
SEEDS = (11, 23, 37)
TECHNIQUES = ["T1055", "T1055.012", "T1071", "T1003", "T1021", "T1569", "T1082", "T1059.001", "T1486", "T1566",
              "T1027", "T1048"]
LOLBINS = ["powershell.exe", "certutil.exe", "wmic.exe", "nltest.exe", "whoami.exe", "cmd.exe", "notepad.exe"]
# Extra rules: every sequence feature on one side or the other of the JVM / Python line.
SEQUENCES = {
    "gap_user.yaml": """kind: sequence
id: test-seq-gap-user
title: Discovery then encryption by one user, within 5 minutes of each other
group_by: user
within: 20m
level: high
steps:
  - techniques: [T1082]
  - techniques: [T1486]
    max_gap: 5m
""",
    "entity_tactics.yaml": """kind: sequence
id: test-seq-entity-tactics
title: Initial access then execution on one entity
group_by: entity
within: 10m
level: medium
steps:
  - tactics: [initial-access]
  - tactics: [execution]
""",
    "three_steps.yaml": """kind: sequence
id: test-seq-three
title: Injection, discovery, C2
group_by: host
within: 30m
level: high
steps:
  - techniques: [T1055]
  - techniques: [T1082]
  - techniques: [T1071]
""",
    "absent.yaml": """kind: sequence
id: test-seq-absent
title: Credential dump not followed by a logon within 10 minutes
group_by: host
within: 1h
level: medium
steps:
  - techniques: [T1003]
  - techniques: [T1078]
    absent: true
    max_gap: 10m
""",
}
CORRELATIONS = """title: Many EDR alerts on a host
id: d1ff0000-0000-4000-8000-000000000001
correlation:
    type: event_count
    rules: [event:attck_technique]
    group-by: [host]
    timespan: 15m
    condition: {gte: 4}
level: medium
---
title: An EDR alert and a LOLBin on one host, in any order
id: d1ff0000-0000-4000-8000-000000000002
correlation:
    type: temporal
    rules: [event:attck_technique, map:ttpflow-process-names]
    group-by: [host]
    timespan: 5m
level: medium
---
title: A LOLBin, then an EDR alert, for one user
id: d1ff0000-0000-4000-8000-000000000003
correlation:
    type: temporal_ordered
    rules: [map:ttpflow-process-names, event:attck_technique]
    group-by: [user]
    timespan: 5m
level: medium
---
title: A burst of EDR alerts anywhere
id: d1ff0000-0000-4000-8000-000000000004
correlation:
    type: event_count
    rules: [event:attck_technique]
    timespan: 2m
    condition: {gte: 5}
level: low
---
title: Hardly any EDR alerts on a host in half an hour (decided when the window closes)
id: d1ff0000-0000-4000-8000-000000000005
correlation:
    type: event_count
    rules: [event:attck_technique]
    group-by: [host]
    timespan: 30m
    condition: {lt: 2}
level: low
---
title: Three LOLBins, then an EDR alert, on a host (a correlation over a correlation)
id: d1ff0000-0000-4000-8000-000000000006
correlation:
    type: temporal_ordered
    rules: [test_lolbin_trio, event:attck_technique]
    group-by: [host]
    timespan: 10m
level: high
---
title: Three LOLBins on a host within five minutes
id: d1ff0000-0000-4000-8000-000000000007
name: test_lolbin_trio
correlation:
    type: event_count
    rules: [map:ttpflow-process-names]
    group-by: [host]
    timespan: 5m
    condition: {gte: 3}
"""


def _events(seed: int, n: int = 320) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    hosts = [f"ws-d{i}" for i in range(5)]
    ips = {h: f"10.91.0.{i + 10}" for i, h in enumerate(hosts)}
    users = ["alice", "bob", "carol"]
    timed: list[tuple[int, dict[str, Any]]] = []
    for i in range(n):
        ts = T0 + rng.randrange(0, 3 * 3600) * 1000
        host = rng.choice(hosts)
        roll = rng.random()
        if roll < 0.2:  # the host shows its address (a binding), sometimes with a technique
            event = plain_event(f"d{seed}-{i}", ts, host, rng.choice([None, *TECHNIQUES]), src_ip=ips[host],
                                user=rng.choice(users))
        elif roll < 0.35:  # C2 seen only by Zeek, from a bound address or an unknown one
            src = ips[host] if rng.random() < 0.8 else "10.91.9.9"
            event = zeek_conn(f"Cd{seed}x{i}", ts, src)
        elif roll < 0.55:
            event = plain_event(f"d{seed}-{i}", ts, host, process_name=rng.choice(LOLBINS), user=rng.choice(users))
        else:
            event = plain_event(f"d{seed}-{i}", ts, host, rng.choice(TECHNIQUES), user=rng.choice(users))
        timed.append((ts + rng.randrange(0, BOUND_MS - 5_000), event))  # arrival: within the bound
    return [event for _, event in sorted(timed, key=lambda x: x[0])]


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rules = tmp_path_factory.mktemp("diff") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    (rules / "technique_maps" / "test_zeek.yaml").write_text(ZEEK_MAP)
    for name, text in SEQUENCES.items():
        (rules / "sequences" / name).write_text(text)
    (rules / "correlations" / "test_counts.yml").write_text(CORRELATIONS)
    return rules


def test_the_rules_cover_both_paths(rules: Path) -> None:
    paths = {p.rule_id: p.path for p in CorrelationPlan(load_ruleset(rules)).explain()}
    assert {r for r, p in paths.items() if p == "jvm"} >= {
        "ttpflow-seq-injection-then-c2", "ttpflow-seq-credential-dump-then-lateral", "test-seq-gap-user",
        "test-seq-entity-tactics"}
    sigma = {f"d1ff0000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3, 4, 6, 7)}
    assert {r for r, p in paths.items() if p == "jvm"} >= sigma
    assert paths["test-seq-three"] == paths["test-seq-absent"] == "python"
    assert paths["d1ff0000-0000-4000-8000-000000000005"] == "python"


@pytest.mark.parametrize(("seed", "parallelism"), list(zip(SEEDS, (1, 2, 4), strict=True)))
def test_job_and_reference_give_identical_alerts(seed: int, parallelism: int, rules: Path, tmp_path: Path) -> None:
    """At parallelism 2 and 4 the groups spread over subtasks, and a binding learned in one subtask's
    input links a hit read by another: the result must not change."""
    events = _events(seed)
    path = write_jsonl(tmp_path / "in.jsonl", events)
    # --no-baselines: baseline counts reach the scorers by broadcast, asynchronously to the alerts they
    # weigh, which no reference can replay exactly; the correlation semantics are what is compared.
    job = run_files(tmp_path, [path], "--rules-dir", str(rules), "--parallelism", str(parallelism), "--no-baselines")
    config = JobConfig(rules_dir=str(rules), out_of_orderness_ms=BOUND_MS)
    expected = reference_alerts(path.read_bytes().splitlines(), config)
    assert expected, "the generator must make the reference alert"
    got = {a["id"]: a for a in job.alerts}
    want = {a["id"]: a for a in expected}
    missing = [want[k]["rule_id"] for k in want.keys() - got.keys()]
    extra = [got[k]["rule_id"] for k in got.keys() - want.keys()]
    assert not missing and not extra, f"missing {Counter(missing)}, extra {Counter(extra)}"
    for key, alert in want.items():
        assert json.loads(json.dumps(got[key])) == json.loads(json.dumps(alert)), key
    assert len(job.alerts) == len(got), "no alert twice"


def test_every_jvm_rule_fires_somewhere(rules: Path, tmp_path: Path) -> None:
    """The comparison above means something only if the JVM-path rules actually alert."""
    config = JobConfig(rules_dir=str(rules), out_of_orderness_ms=BOUND_MS)
    fired: Counter[str] = Counter()
    for seed in SEEDS:
        payloads = [json.dumps(e).encode() for e in _events(seed)]
        fired.update(a["rule_id"] for a in reference_alerts(payloads, config))
    plan = CorrelationPlan(load_ruleset(rules))
    # Inner rules of chains alert through the rule over them (generate: false); the bundled
    # brute-force chain needs Windows logon events, which this generator does not make.
    brute_force = {"2f3a7c1e-5b7d-4c1e-9a55-7d0f3c6b8e21", "6a1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"}
    jvm = [p.rule_id for p in plan.explain() if p.path == "jvm" and p.rule_id not in plan.silent | brute_force]
    assert "d1ff0000-0000-4000-8000-000000000006" in jvm  # a chain
    assert all(fired[r] > 0 for r in jvm), fired
