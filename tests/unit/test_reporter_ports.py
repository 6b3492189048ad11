"""`ttpflow cluster status` names each process's Prometheus port, read from its log: the reporter takes
the first free port of a range, so the port depends on what else runs on the host."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.local.reporter_ports import jobmanager_port, taskmanager_port

LINE = "INFO  PrometheusReporter [] - Started PrometheusReporter HTTP server on port {}.\n"


def _log(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_each_taskmanager_gets_the_port_its_own_log_names(tmp_path: Path) -> None:
    _log(tmp_path / "flink--standalonesession-0-vm.log", LINE.format(9251), 100)
    _log(tmp_path / "flink--taskexecutor-0-vm.log",
         "WorkingDirectory(/tmp/tm_127.0.0.1:1-aaaaaa)\n" + LINE.format(9252), 100)
    _log(tmp_path / "flink--taskexecutor-1-vm.log",
         "WorkingDirectory(/tmp/tm_127.0.0.1:2-bbbbbb)\n" + LINE.format(9249), 200)
    assert jobmanager_port(tmp_path) == 9251
    assert taskmanager_port(tmp_path, "127.0.0.1:1-aaaaaa") == 9252
    assert taskmanager_port(tmp_path, "127.0.0.1:2-bbbbbb") == 9249
    assert taskmanager_port(tmp_path, "127.0.0.1:3-cccccc") is None


def test_no_log_or_no_reporter_line_is_none(tmp_path: Path) -> None:
    assert jobmanager_port(tmp_path) is None
    _log(tmp_path / "flink--standalonesession-0-vm.log", "no reporter configured\n", 100)
    assert jobmanager_port(tmp_path) is None
