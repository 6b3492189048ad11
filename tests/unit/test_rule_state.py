"""What a resume does to the state of rules that changed (jobs.rule_state, jobs.local.cluster)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobs.local.cluster import SAVEPOINT_META, ClusterError, check_rule_state, write_savepoint_meta
from jobs.rule_state import PYTHON_PATH, DroppedRule, dropped_rules, needs_allow, rule_operators
from schemas.config import PROJECT_ROOT

EXTRA = """kind: sequence
id: test-extra
title: Account discovery, then remote services
level: medium
steps: [{techniques: [T1087]}, {techniques: [T1021]}]
within: 10m
group_by: user
"""


def _rules_copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    return rules


def test_every_bundled_stateful_rule_is_recorded_with_the_uid_prefix_of_its_sql() -> None:
    operators = rule_operators([])
    assert operators["ttpflow-seq-injection-then-c2"].startswith("rule-ttpflow-seq-injection-then-c2-")
    assert "ttpflow-risk-host-24h" in operators and "ttpflow-net-beacon" in operators
    assert operators == rule_operators([]), "the same rules give the same record"


def test_a_rule_added_changes_no_other_rules_record_and_a_changed_window_changes_its_own(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path)
    before = rule_operators(["--rules-dir", str(rules)])
    (rules / "sequences" / "aaa_extra.yaml").write_text(EXTRA)
    added = rule_operators(["--rules-dir", str(rules)])
    assert set(added) - set(before) == {"test-extra"}
    assert {k: added[k] for k in before} == before
    (rules / "sequences" / "aaa_extra.yaml").write_text(EXTRA.replace("within: 10m", "within: 20m"))
    changed = rule_operators(["--rules-dir", str(rules)])
    assert dropped_rules(added, changed) == [DroppedRule("test-extra", "changed")]


def test_dropped_rules_names_removed_changed_and_moved_rules() -> None:
    recorded = {"a": "rule-a-1", "b": "rule-b-1", "c": "rule-c-1", "d": PYTHON_PATH, "e": PYTHON_PATH}
    running = {"b": "rule-b-2", "c": PYTHON_PATH, "e": PYTHON_PATH, "new": "rule-new-1"}
    dropped = dropped_rules(recorded, running)
    assert [(d.rule_id, d.why) for d in dropped] == [("a", "removed"), ("b", "changed"), ("c", "moved"),
                                                     ("d", "removed")]
    # A Python-path rule's partial matches sit in the correlator's state, which restores: Flink does not refuse.
    assert [d.rule_id for d in needs_allow(dropped, recorded)] == ["a", "b", "c"]


def _savepoint(tmp_path: Path, rules: dict[str, str] | None) -> Path:
    savepoint = tmp_path / "savepoint-1"
    savepoint.mkdir()
    (savepoint / "_metadata").write_bytes(b"\0")
    write_savepoint_meta(savepoint, "process", rules)
    return savepoint


def test_resume_refuses_a_savepoint_with_state_of_a_removed_rule_naming_it(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    savepoint = _savepoint(tmp_path, {"gone": "rule-gone-1", "kept": "rule-kept-1"})
    assert json.loads((savepoint / SAVEPOINT_META).read_text())["rules"]["gone"] == "rule-gone-1"
    with pytest.raises(ClusterError, match=r"gone \(no longer in the rule packs\).*--allow-non-restored-state"):
        check_rule_state(str(savepoint), {"kept": "rule-kept-1"}, allow=False)
    check_rule_state(str(savepoint), {"kept": "rule-kept-1"}, allow=True)
    assert "dropping the savepoint's state of 1 rule(s): gone (no longer in the rule packs)" in capsys.readouterr().err


def test_a_savepoint_without_a_rule_record_is_left_to_flink(tmp_path: Path) -> None:
    check_rule_state(str(_savepoint(tmp_path, None)), {}, allow=False)
