"""Fixtures of the integration tests that need more than the session's Kafka broker (tests/conftest.py).

- ``flink_cluster`` (session) -> the options (``--rest-port P --rpc-port P --cluster-dir DIR``) of one
  standalone Flink session cluster on loopback, started from the package's scripts for every test
  that submits to a cluster (savepoints, status, TaskManager failures), and stopped at the end.
  Tests leave it as they found it: their jobs stopped, at least one TaskManager running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobs.local.kafka import free_port
from tests.integration.jobrun import ttpflow


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    cluster_dir = tmp_path_factory.mktemp("flink")
    opts = ["--rest-port", str(free_port()), "--rpc-port", str(free_port()), "--cluster-dir", str(cluster_dir)]
    ttpflow("cluster", "start", *opts, timeout_s=180)
    try:
        yield opts
    finally:
        ttpflow("cluster", "stop", *opts, timeout_s=180, check=False)
