"""Rule-file errors with file and line, and savepoint mode checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.local import cluster
from udfs.correlate.rules import load_sequence_rules
from udfs.rulefile import RuleFileError

BUNDLED_RULES = Path(__file__).resolve().parents[2] / "rules"


def test_bundled_sequence_rules_load() -> None:
    rules = load_sequence_rules(BUNDLED_RULES)
    ids = {r.id for r in rules}
    assert "ttpflow-seq-injection-then-c2" in ids
    seed = next(r for r in rules if r.id == "ttpflow-seq-injection-then-c2")
    assert seed.within_ms == 15 * 60_000
    assert [s.techniques for s in seed.steps] == [["T1055"], ["T1071"]]


def test_bad_rule_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    bad = tmp_path / "sequences" / "bad.yaml"
    bad.write_text(
        "kind: sequence\nid: x\ntitle: t\nwithin: 15 minutes\n"
        "steps:\n  - techniques: [T1055]\n  - techniques: [T1071]\n"
    )
    with pytest.raises(RuleFileError) as err:
        load_sequence_rules(tmp_path)
    assert f"{bad}:4: field within" in str(err.value)


def test_duplicate_rule_id_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    body = "kind: sequence\nid: same\ntitle: t\nwithin: 5m\nsteps:\n  - techniques: [T1]\n  - techniques: [T2]\n"
    (tmp_path / "sequences" / "a.yaml").write_text(body)
    (tmp_path / "sequences" / "b.yaml").write_text(body)
    with pytest.raises(RuleFileError, match="already defined"):
        load_sequence_rules(tmp_path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "broken.yaml").write_text("kind: sequence\nid: [unclosed\n")
    with pytest.raises(RuleFileError, match=r"broken.yaml:\d+: not valid YAML"):
        load_sequence_rules(tmp_path)


def _fake_savepoint_format(tmp_path: Path, state_format: int) -> Path:
    sp = tmp_path / "savepoint-f"
    sp.mkdir()
    (sp / "_metadata").write_bytes(b"")
    meta = {"python_execution_mode": cluster.PYTHON_EXECUTION_MODE, "state_format": state_format}
    (sp / cluster.SAVEPOINT_META).write_text(json.dumps(meta))
    return sp


def _fake_savepoint(tmp_path: Path, mode: str | None) -> Path:
    sp = tmp_path / "savepoint-1"
    sp.mkdir()
    (sp / "_metadata").write_bytes(b"\x00")
    if mode is not None:
        meta = {"python_execution_mode": mode, "state_format": cluster.TTPFLOW_STATE_FORMAT}
        (sp / cluster.SAVEPOINT_META).write_text(json.dumps(meta))
    return sp


def test_savepoint_from_the_same_mode_is_accepted(tmp_path: Path) -> None:
    cluster.check_savepoint(str(_fake_savepoint(tmp_path, cluster.PYTHON_EXECUTION_MODE)))


def test_a_format_1_savepoint_is_refused_by_resume_and_taken_by_upgrade(tmp_path: Path) -> None:
    sp = _fake_savepoint_format(tmp_path, 1)
    with pytest.raises(cluster.ClusterError, match="ttpflow upgrade"):
        cluster.check_savepoint(str(sp))
    assert cluster.upgrade_start_ms(str(sp), 60_000) == int((sp / "_metadata").stat().st_mtime * 1000) - 60_000


def test_upgrade_refuses_a_savepoint_of_the_current_format(tmp_path: Path) -> None:
    with pytest.raises(cluster.ClusterError, match="ttpflow resume"):
        cluster.check_upgradable(str(_fake_savepoint_format(tmp_path, cluster.TTPFLOW_STATE_FORMAT)))


def test_savepoint_from_the_other_python_mode_is_refused(tmp_path: Path) -> None:
    other = "thread" if cluster.PYTHON_EXECUTION_MODE == "process" else "process"
    with pytest.raises(cluster.ClusterError, match="empty state: refused"):
        cluster.check_savepoint(str(_fake_savepoint(tmp_path, other)))


def test_savepoint_without_ttpflow_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(cluster.ClusterError, match="ttpflow stop --savepoint"):
        cluster.check_savepoint(str(_fake_savepoint(tmp_path, None)))


def test_write_savepoint_meta_records_the_mode(tmp_path: Path) -> None:
    sp = _fake_savepoint(tmp_path, None)
    cluster.write_savepoint_meta(sp, "thread")
    assert json.loads((sp / cluster.SAVEPOINT_META).read_text())["python_execution_mode"] == "thread"
    cluster.check_savepoint(str(sp), "thread")
    with pytest.raises(cluster.ClusterError, match="--python-execution-mode thread"):
        cluster.check_savepoint(str(sp), "process")


def test_the_mode_comes_from_the_job_options() -> None:
    assert cluster._execution_mode(["--bootstrap-servers", "b:9092"]) == "process"
    assert cluster._execution_mode(["--python-execution-mode", "thread", "--raw-topic", "t"]) == "thread"
