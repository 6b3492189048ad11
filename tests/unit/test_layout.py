"""The package layout's rules: ``udfs`` and ``schemas`` never import ``jobs``; every exception is a TtpflowError."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from udfs.errors import Location, TtpflowError

ROOT = Path(__file__).resolve().parents[2]
NO_JOBS = ("udfs", "schemas")  # the job's logic and models: importable without the job and its CLI
ALL_PACKAGES = ("udfs", "schemas", "jobs")


def python_files(root: Path, packages: tuple[str, ...]) -> Iterator[Path]:
    for package in packages:
        yield from sorted((root / package).rglob("*.py"))


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def jobs_imports(root: Path, packages: tuple[str, ...] = NO_JOBS) -> list[str]:
    """``file:line: statement`` for every import of ``jobs`` (at top level or inside a function)."""
    found: list[str] = []
    for path in python_files(root, packages):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(name == "jobs" or name.startswith("jobs.") for name in names):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def _class_paths(tree: ast.Module) -> Iterator[tuple[tuple[str, ...], int]]:
    """Qualified names of the classes reachable as attributes (module level, nested in classes)."""
    stack: list[tuple[tuple[str, ...], list[ast.stmt]]] = [((), tree.body)]
    while stack:
        prefix, body = stack.pop()
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield (*prefix, node.name), node.lineno
                stack.append(((*prefix, node.name), node.body))
            elif isinstance(node, ast.If | ast.Try):  # e.g. a class defined under TYPE_CHECKING or a fallback
                stack.append((prefix, [*node.body, *node.orelse, *getattr(node, "finalbody", [])]))


def _local_classes_in_functions(tree: ast.Module) -> Iterator[ast.ClassDef]:
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from (node for node in ast.walk(func) if isinstance(node, ast.ClassDef))


def foreign_exceptions(root: Path, packages: tuple[str, ...] = ALL_PACKAGES) -> list[str]:
    """``file:line: Class`` for every exception class defined under ``packages`` that is no TtpflowError.

    Classes are found with ``ast`` and checked on the imported class (so inheritance through other
    modules counts); a class defined inside a function cannot be imported, so it must not be an
    exception at all (judged by its base names).
    """
    found: list[str] = []
    for path in python_files(root, packages):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(root)
        classes = list(_class_paths(tree))
        if classes:
            module = importlib.import_module(module_name(root, path))
            for qualname, line in classes:
                obj: object = module
                for part in qualname:
                    obj = getattr(obj, part)
                if isinstance(obj, type) and issubclass(obj, BaseException) and not issubclass(obj, TtpflowError):
                    bases = ", ".join(base.__name__ for base in obj.__bases__)
                    found.append(f"{where}:{line}: {'.'.join(qualname)}({bases})")
        for node in _local_classes_in_functions(tree):
            bases = [ast.unparse(base) for base in node.bases]
            if any(base.endswith(("Error", "Exception")) and not base.endswith("TtpflowError") for base in bases):
                found.append(f"{where}:{node.lineno}: {node.name}({', '.join(bases)}) defined in a function")
    return found


def test_udfs_and_schemas_never_import_jobs() -> None:
    assert jobs_imports(ROOT) == []


def test_every_exception_derives_from_ttpflow_error() -> None:
    assert foreign_exceptions(ROOT) == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted violations are reported: the two tests above can fail."""
    package = tmp_path / "udfs_planted_layout"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "import json\n"
        "from jobs.errors import UserError\n"
        "from udfs.errors import TtpflowError\n\n"
        "class Good(TtpflowError, ValueError):\n    pass\n\n"
        "class Bad(ValueError):\n    pass\n\n"
        "class Holder:\n    class Inner(RuntimeError):\n        pass\n\n"
        "def late():\n"
        "    import jobs.cli\n"
        "    class Local(KeyError):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert jobs_imports(tmp_path, ("udfs_planted_layout",)) == [
            "udfs_planted_layout/mod.py:2: from jobs.errors import UserError",
            "udfs_planted_layout/mod.py:16: import jobs.cli",
        ]
        assert sorted(foreign_exceptions(tmp_path, ("udfs_planted_layout",))) == [
            "udfs_planted_layout/mod.py:12: Holder.Inner(RuntimeError)",
            "udfs_planted_layout/mod.py:17: Local(KeyError) defined in a function",
            "udfs_planted_layout/mod.py:8: Bad(ValueError)",
        ]
    finally:
        for name in [n for n in sys.modules if n.startswith("udfs_planted_layout")]:
            del sys.modules[name]


def test_location_renders_path_line_and_field() -> None:
    err = TtpflowError("must be positive", location=Location("rules/a.yaml", 4, "within"))
    assert str(err) == "rules/a.yaml:4: field within: must be positive"
    assert err.message == "must be positive"
    assert str(TtpflowError("no such file", location=Location(path="x.yml"))) == "x.yml: no such file"
    assert str(TtpflowError("bad", location=Location(line=3, field="a.b"))) == "line 3: field a.b: bad"
    assert str(TtpflowError("plain")) == "plain"


def test_errors_keep_their_builtin_bases_and_render_their_location() -> None:
    from jobs.errors import UserError
    from jobs.local.cluster import ClusterError
    from udfs.rulefile import RuleFileError

    assert issubclass(UserError, TtpflowError)
    assert issubclass(ClusterError, RuntimeError)
    err = RuleFileError("expected a list", location=Location("r.yaml", 7, "steps.0"))
    assert isinstance(err, ValueError)
    assert str(err) == "r.yaml:7: field steps.0: expected a list"
