"""The property tests test what the job runs: the event-time harness drives the very operator core
the job's PyFlink wrapper builds, through the same watermark buffer, on in-memory keyed state."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tests.unit import test_correlate_fixtures
from udfs.correlate.engine import Correlation, RuleSet
from udfs.keyed import WatermarkBuffer
from udfs.testing.harness import EventTimeHarness

FLINK_FUNCTIONS = Path(__file__).resolve().parents[2] / "udfs" / "flink_functions.py"


def _cores_built_by(wrapper: str) -> list[type]:
    """The classes a PyFlink wrapper imports and calls (read from its source, not assumed)."""
    tree = ast.parse(FLINK_FUNCTIONS.read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == wrapper]
    imported: dict[str, type] = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            imported.update({a.asname or a.name: getattr(module, a.name) for a in node.names})
    called = {n.func.id for n in ast.walk(cls) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return [imported[name] for name in sorted(called & set(imported)) if name != "Correlation"]


def test_the_harness_runs_the_core_the_correlator_wrapper_runs() -> None:
    [core] = _cores_built_by("Correlator")
    harness = EventTimeHarness(Correlation(RuleSet()), out_of_orderness_ms=1_000)
    for stage in (harness.stage1, harness.stage2):
        assert type(stage.core) is core
        assert type(stage.core.buffer) is WatermarkBuffer
    assert type(harness.hit_buffer) is WatermarkBuffer, "one buffer-until-watermark helper"


def test_the_property_tests_run_through_the_harness() -> None:
    assert test_correlate_fixtures.EventTimeHarness is EventTimeHarness


def test_the_wrappers_are_thin() -> None:
    """Each PyFlink class binds Flink to a core in a few lines: logic lives where tests call it."""
    tree = ast.parse(FLINK_FUNCTIONS.read_text())
    sizes = {n.name: n.end_lineno - n.lineno + 1 for n in tree.body if isinstance(n, ast.ClassDef)}  # type: ignore[operator]
    assert sizes and all(size <= 30 for size in sizes.values()), sizes


def test_the_hit_shape_inside_is_the_hit_schema_at_the_edge() -> None:
    from schemas.alert import Evidence as EvidenceModel
    from schemas.hit import TechniqueHit
    from udfs.correlate.records import Evidence, Hit

    inner = set(Hit.__annotations__) - {"link", "evidence_list"}  # added by linking / chains
    assert inner == set(TechniqueHit.model_fields) - {"schema_version"}
    assert set(Evidence.__annotations__) == set(EvidenceModel.model_fields)
