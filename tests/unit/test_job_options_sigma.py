"""Rule options checked before the job starts: a ``--sigma`` rule that cannot load stops it, naming
file and line, unless ``--skip-bad-rules`` (then a warning each); a ``--rules-dir`` that is not a
folder stops it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from jobs.errors import UserError
from jobs.options import add_kafka_job_args, config_from_args

GOOD = """title: whoami
id: 5a1e2b0c-0000-4000-8000-000000000001
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    condition: sel
level: low
"""
BROKEN = "title: broken\nlogsource: {product: windows}\ndetection:\n  sel: {EventID: [}\n  condition: sel\n"


def _config(*args: str):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(list(args)))


@pytest.fixture
def sigma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "sigma"
    folder.mkdir()
    (folder / "good.yml").write_text(GOOD)
    (folder / "bad.yml").write_text(BROKEN)
    return folder


def test_a_broken_rule_refuses_the_job_with_file_and_line(sigma: Path) -> None:
    with pytest.raises(UserError, match=r"1 Sigma rule\(s\) cannot load: .*bad\.yml:4: not valid YAML"):
        _config("--sigma", str(sigma))


def test_skip_bad_rules_warns_per_rule_and_runs(sigma: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = _config("--sigma", str(sigma), "--skip-bad-rules")
    assert config.sigma_paths == (str(sigma.resolve()),)
    assert any("bad.yml:4" in str(getattr(r, "fields", {})) for r in caplog.records)


def test_good_rules_pass(sigma: Path) -> None:
    (sigma / "bad.yml").unlink()
    assert _config("--sigma", str(sigma)).sigma_paths == (str(sigma.resolve()),)


def test_a_missing_rules_dir_refuses_the_job(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--rules-dir .*nowhere: not a folder"):
        _config("--rules-dir", str(tmp_path / "nowhere"))
