"""Bad Kafka settings fail before the job is built, in one line naming the address."""

from __future__ import annotations

import time

import pytest

from jobs.broker import require_broker
from jobs.errors import UserError
from jobs.local.kafka import free_port
from tests.integration.jobrun import ttpflow


def test_a_running_broker_passes_the_check(kafka_broker: str) -> None:
    started = time.monotonic()
    require_broker(kafka_broker)
    assert time.monotonic() - started < 5


def test_an_unreachable_broker_is_reported_within_30_seconds_naming_it() -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = ttpflow("run", "--bootstrap-servers", address, "--raw-topic", "t", timeout_s=60, check=False)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("ttpflow run:")]
    assert address in line and "Traceback" not in proc.stderr


def test_the_check_raises_a_user_error() -> None:
    with pytest.raises(UserError, match=r"127\.0\.0\.1:1 "):
        require_broker("127.0.0.1:1", timeout_s=2)
