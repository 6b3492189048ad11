"""`ttpflow resume` from a retained checkpoint: accepted as a savepoint is when it is `<job id>/chk-N`
of a job ttpflow submitted to this cluster (its record gives the Python mode and state format); a
job's checkpoint folder resolves to its newest complete checkpoint; anything else is refused. And
the options of the operating commands parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.cli import build_parser
from jobs.local import cluster

JOB = "bcb507eb0bdb6ae114b5412b2d085816"


def _checkpoints(tmp_path: Path, numbers: tuple[int, ...] = (3, 5), in_progress: int | None = 7) -> Path:
    job_dir = tmp_path / "checkpoints" / JOB
    for n in numbers:
        (job_dir / f"chk-{n}").mkdir(parents=True)
        (job_dir / f"chk-{n}" / "_metadata").write_bytes(b"\x00")
    if in_progress is not None:  # a checkpoint still being written has no _metadata yet
        (job_dir / f"chk-{in_progress}").mkdir(parents=True)
    (job_dir / "shared").mkdir(parents=True, exist_ok=True)
    return job_dir


def _record(tmp_path: Path, mode: str = cluster.PYTHON_EXECUTION_MODE,
            state_format: int = cluster.TTPFLOW_STATE_FORMAT) -> Path:
    records = tmp_path / "jobs"
    records.mkdir(exist_ok=True)
    (records / f"{JOB}.json").write_text(json.dumps({"python_execution_mode": mode, "state_format": state_format}))
    return records


def test_a_retained_checkpoint_of_a_job_ttpflow_submitted_is_accepted(tmp_path: Path) -> None:
    job_dir = _checkpoints(tmp_path)
    records = _record(tmp_path)
    assert cluster.check_savepoint(str(job_dir / "chk-3"), job_records=records) == job_dir / "chk-3"


def test_a_jobs_checkpoint_folder_resolves_to_its_newest_complete_checkpoint(tmp_path: Path) -> None:
    job_dir = _checkpoints(tmp_path)
    records = _record(tmp_path)
    assert cluster.check_savepoint(str(job_dir), job_records=records) == job_dir / "chk-5"
    assert cluster.check_savepoint(job_dir.as_uri(), job_records=records) == job_dir / "chk-5"


def test_a_checkpoint_of_a_job_without_record_is_refused(tmp_path: Path) -> None:
    job_dir = _checkpoints(tmp_path)
    with pytest.raises(cluster.ClusterError, match=f"a checkpoint of job {JOB}, which ttpflow did not submit"):
        cluster.check_savepoint(str(job_dir / "chk-5"), job_records=tmp_path / "jobs")


def test_a_retained_checkpoint_keeps_the_savepoint_rules(tmp_path: Path) -> None:
    job_dir = _checkpoints(tmp_path)
    other = "thread" if cluster.PYTHON_EXECUTION_MODE == "process" else "process"
    with pytest.raises(cluster.ClusterError, match="empty state: refused"):
        cluster.check_savepoint(str(job_dir / "chk-5"), job_records=_record(tmp_path, mode=other))
    with pytest.raises(cluster.ClusterError, match="ttpflow upgrade"):
        cluster.check_savepoint(str(job_dir / "chk-5"), job_records=_record(tmp_path, state_format=1))


def test_a_folder_without_checkpoints_is_refused(tmp_path: Path) -> None:
    job_dir = _checkpoints(tmp_path, numbers=())
    with pytest.raises(cluster.ClusterError, match="not a Flink savepoint or checkpoint"):
        cluster.check_savepoint(str(job_dir), job_records=_record(tmp_path))
    with pytest.raises(cluster.ClusterError, match="not a Flink savepoint or checkpoint"):
        cluster.check_savepoint(str(tmp_path), job_records=_record(tmp_path))


def test_the_cluster_config_retains_checkpoints_incrementally() -> None:
    import yaml

    checkpointing = yaml.safe_load(cluster.CONFIG_TEMPLATE.read_text().replace("@", "x"))["execution"]["checkpointing"]
    assert checkpointing["incremental"] is True
    assert checkpointing["externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert checkpointing["num-retained"] >= 2


def test_the_operating_options_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["resume", "/sp", "--allow-non-restored-state"])
    assert args.allow_non_restored_state is True and args.savepoint == "/sp"
    assert parser.parse_args(["resume", "/sp"]).allow_non_restored_state is False
    args = parser.parse_args(["cluster", "add-taskmanager", "--replace", "--rest-port", "1"])
    assert (args.action, args.replace, args.rest_port) == ("add-taskmanager", True, 1)
    args = parser.parse_args(["status", "--rest-port", "2", "--job-id", "j", "--json"])
    assert (args.rest_port, args.job_id, args.json) == (2, "j", True)
    args = parser.parse_args(["kafka", "topics", "--bootstrap-servers", "h:1", "--raw-topic", "r=zeek"])
    assert (args.bootstrap_servers, args.raw_topics, args.alerts_topic) == ("h:1", ["r=zeek"], "ttpflow.alerts")
