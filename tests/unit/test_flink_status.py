"""`ttpflow status` logic on REST answers recorded from a real session cluster running the job
(tests/fixtures/flink_rest/), and Flink's reason picked out of a refused `flink run`'s output."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jobs.local.flink_errors import NON_RESTORED_HINT, explain, failure_reason
from jobs.local.rest import (
    RestError,
    duration,
    format_jobs,
    format_task_managers,
    http_fetch,
    job_status,
    running_job_ids,
    size,
    task_managers,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flink_rest"
JOB = "fd254bd003fb498a14ab7f757c71470f"
NOW = 1796018782185  # the JobManager's "now" in the recording: the clock the tests count to


@pytest.fixture
def answers() -> dict[str, Any]:
    return json.loads((FIXTURES / "running_job.json").read_text())


def fetcher(answers: dict[str, Any]):
    def fetch(path: str) -> Any:
        return copy.deepcopy(answers[path])

    return fetch


def test_every_vertex_with_its_figures(answers: dict[str, Any]) -> None:
    status = job_status(fetcher(answers), JOB, NOW)
    assert (status.id, status.state, status.name, status.now_ms) == (JOB, "RUNNING", "ttpflow", NOW)
    assert len(status.vertices) == len(answers[f"/jobs/{JOB}"]["vertices"]) == 35
    source = status.vertices[0]
    assert source.name.startswith("Source: raw_records")
    assert source.watermark_ms is None and source.watermark_lag_ms is None  # a source has no input watermark
    window = status.vertices[1]
    assert window.watermark_ms == 1_714_557_654_999  # second event's time - 5 s bound - 1 ms
    assert window.watermark_lag_ms == NOW - 1_714_557_654_999
    assert window.backpressure == "ok" and window.backpressured_ratio == 0.0
    assert window.busy_ratio == pytest.approx(0.126, abs=0.05)
    assert all(v.records_in_per_s is not None and v.records_out_per_s is not None for v in status.vertices)


def test_ages_never_go_negative(answers: dict[str, Any]) -> None:
    status = job_status(fetcher(answers), JOB, NOW - 5_000)  # a clock behind the cluster's
    assert status.checkpoints.latest_age_ms == 0 and status.uptime_ms is not None and status.uptime_ms >= 0


def test_the_latest_completed_checkpoint(answers: dict[str, Any]) -> None:
    cp = job_status(fetcher(answers), JOB, NOW).checkpoints
    assert (cp.latest_id, cp.completed, cp.failed, cp.in_progress) == (11, 11, 3, 0)
    assert cp.latest_age_ms == NOW - 1_796_018_781_488
    assert (cp.latest_duration_ms, cp.latest_state_size, cp.latest_checkpointed_size) == (112, 1_130_151, 1_072_196)
    assert cp.latest_path and cp.latest_path.endswith("/chk-11")


def test_no_checkpoint_yet_and_a_failure(answers: dict[str, Any]) -> None:
    cps = answers[f"/jobs/{JOB}/checkpoints"]
    cps["latest"]["completed"] = None
    cps["latest"]["failed"] = {"id": 12, "failure_message": "Checkpoint expired before completing.\nat ..."}
    status = job_status(fetcher(answers), JOB, NOW)
    assert status.checkpoints.latest_id is None and status.checkpoints.latest_age_ms is None
    text = format_jobs([status])
    assert "checkpoints: none completed yet (0 in progress, 3 failed)" in text
    assert "last failure: Checkpoint expired before completing." in text and "at ..." not in text


def test_a_subtask_without_watermark_holds_the_operator_back(answers: dict[str, Any]) -> None:
    vid = answers[f"/jobs/{JOB}"]["vertices"][1]["id"]
    answers[f"/jobs/{JOB}/vertices/{vid}/watermarks"].append(
        {"id": "1.currentInputWatermark", "value": str(-(2**63))})
    assert job_status(fetcher(answers), JOB, NOW).vertices[1].watermark_lag_ms is None


def test_backpressure_not_sampled_yet_says_nothing(answers: dict[str, Any]) -> None:
    vid = answers[f"/jobs/{JOB}"]["vertices"][1]["id"]
    answers[f"/jobs/{JOB}/vertices/{vid}/backpressure"] = {"status": "deprecated"}
    assert job_status(fetcher(answers), JOB, NOW).vertices[1].backpressure is None


def test_the_table_has_a_row_per_operator(answers: dict[str, Any]) -> None:
    text = format_jobs([job_status(fetcher(answers), JOB, NOW)])
    lines = text.splitlines()
    assert lines[0].startswith(f"job {JOB}  RUNNING  ttpflow  up ")
    assert lines[1].startswith("checkpoint #11: 697 ms ago, took 112 ms, state 1.1 MiB (this one wrote 1.0 MiB)")
    assert lines[2].split() == ["operator", "par", "in/s", "out/s", "backpressure", "busy", "watermark", "lag"]
    assert len(lines) == 3 + 35
    assert lines[4].endswith(duration(NOW - 1_714_557_654_999))  # the window operator's lag, in days
    assert format_jobs([]) == "no running job"


def test_the_json_form_is_plain_json(answers: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(job_status(fetcher(answers), JOB, NOW).to_json()))
    assert doc["checkpoints"]["latest_id"] == 11 and len(doc["vertices"]) == 35
    assert set(doc["vertices"][0]) >= {"name", "records_in_per_s", "records_out_per_s", "backpressure",
                                       "busy_ratio", "watermark_lag_ms"}


def test_running_jobs_and_task_managers(answers: dict[str, Any]) -> None:
    answers["/jobs/overview"]["jobs"].append({"jid": "0" * 32, "state": "FINISHED", "start-time": 1})
    assert running_job_ids(fetcher(answers)) == [JOB]
    [tm] = task_managers(fetcher(answers))
    assert (tm.slots, tm.free_slots) == (4, 3) and tm.address.startswith("pekko.tcp://flink@127.0.0.1:")
    assert format_task_managers([tm]) == f"taskmanager {tm.id}  {tm.address}  slots 3/4 free"


def test_no_rest_api_is_one_line() -> None:
    with pytest.raises(RestError, match=r"no Flink REST API at http://127\.0\.0\.1:9 "):
        http_fetch("http://127.0.0.1:9", timeout_s=2)("/overview")


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (5, "5 ms"), (1500, "1.5 s"), (600_000, "10.0 min"),
                                             (3 * 3_600_000, "3.0 h"), (3 * 86_400_000, "3.0 d")])
def test_durations(value: int | None, text: str) -> None:
    assert duration(value) == text


def test_sizes() -> None:
    assert [size(None), size(10), size(2048), size(3 * 2**20)] == ["-", "10 B", "2.0 KiB", "3.0 MiB"]


# -- a refused `flink run` ----------------------------------------------------------------------


def test_the_refused_savepoint_reason_is_flinks_own_line() -> None:
    output = (FIXTURES / "refused_savepoint.txt").read_text()
    reason = failure_reason(output)
    assert reason is not None
    assert reason.startswith("Failed to rollback to checkpoint/savepoint file:")
    assert "Cannot map checkpoint/savepoint state for operator 98b9e7631a619fa14abf74c792fde478" in reason
    assert "\n" not in reason and "Exception" not in reason
    assert explain(output) == f"{reason}\n{NON_RESTORED_HINT}"
    assert "--allow-non-restored-state" in NON_RESTORED_HINT


def test_only_wrappers_give_no_reason_and_python_errors_are_kept() -> None:
    wrappers = ("org.apache.flink.client.program.ProgramAbortException: java.lang.RuntimeException: Python "
                "process exits with code: 1\nCaused by: java.lang.RuntimeException: Python process exits with code: 1")
    assert failure_reason(wrappers) is None
    python = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: rules/x.yaml:3: bad\n" + wrappers
    assert explain(python) == "rules/x.yaml:3: bad"
