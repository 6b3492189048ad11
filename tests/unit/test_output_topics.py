"""Output topics get message.timestamp.type=LogAppendTime, raw topics keep producer time: in
`ttpflow kafka topics` (the plan) and in the compose topic initializer (its script, run with stub
Kafka tools that record what they were asked)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import yaml

from jobs.local.topics import OUTPUT_TOPIC_CONFIGS, job_topics
from schemas.config import Topics

ROOT = Path(__file__).resolve().parents[2]


def test_the_plan_sets_log_append_time_on_outputs_only() -> None:
    topics = Topics(raw=("r1", "r2"), alerts="a", signals="s", dead_letter="d", late="l", suppressed="x")
    specs = {s.name: s for s in job_topics(topics, partitions=3)}
    assert set(specs) == {"r1", "r2", "a", "s", "d", "l", "x"}
    assert all(s.partitions == 3 for s in specs.values())
    assert specs["r1"].configs == specs["r2"].configs == {}
    for name in ("a", "s", "d", "l", "x"):
        assert specs[name].configs == {"message.timestamp.type": "LogAppendTime"}


def test_a_topic_in_two_roles_is_planned_once() -> None:
    specs = job_topics(Topics(raw=("r",), alerts="a", signals="s", dead_letter="d", late="d", suppressed="d"))
    assert [s.name for s in specs] == ["r", "a", "s", "d"]


def test_the_compose_initializer_sets_log_append_time_on_outputs_only(tmp_path: Path) -> None:
    init = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka-init"]
    script = init["command"][0].replace("$$", "$")  # compose's escape for a literal $
    bin_dir = tmp_path / "opt" / "kafka" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls"
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/bash\necho "{tool} $*" >> "{calls}"\n')
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    script = script.replace("/opt/kafka/bin/", f"{bin_dir}/")
    env = {**os.environ, "TOPIC_PARTITIONS": "4"}
    subprocess.run(["/bin/bash", "-euc", script], env=env, check=True, timeout=30)
    lines = calls.read_text().splitlines()
    configured = {
        line.split("--entity-name ")[1].split()[0]
        for line in lines
        if line.startswith("kafka-configs.sh") and "--add-config message.timestamp.type=LogAppendTime" in line
    }
    created = {line.split("--topic ")[1].split()[0] for line in lines if " --create " in line}
    assert created == {"ttpflow.raw", "ttpflow.alerts", "ttpflow.signals", "ttpflow.dead-letter", "ttpflow.late",
                       "ttpflow.suppressed"}
    assert configured == created - {"ttpflow.raw"}
    assert OUTPUT_TOPIC_CONFIGS == {"message.timestamp.type": "LogAppendTime"}
