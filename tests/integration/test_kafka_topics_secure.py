"""`ttpflow kafka topics` on a SASL_SSL broker: it takes the job's --kafka-config (secret by reference),
creates the topics (outputs with LogAppendTime) and never prints the password."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from jobs.local.topics import topic_configs
from tests.integration.jobrun import ttpflow
from tests.integration.test_kafka_security import SecureBroker
from tests.integration.test_kafka_security import secure_broker as secure_broker  # the fixture, re-exported


def test_kafka_topics_over_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    started = time.monotonic()
    broker = secure_broker
    config = tmp_path / "client.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in broker.client_properties().items()))
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"sec-topics-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late", "suppressed")}
    done = ttpflow("kafka", "topics", "--bootstrap-servers", broker.bootstrap, "--kafka-config", str(config),
                   "--raw-topic", names["raw"], "--alerts-topic", names["alerts"], "--signals-topic",
                   names["signals"], "--dead-letter-topic", names["dead"], "--late-topic", names["late"],
                   "--suppressed-topic", names["suppressed"], timeout_s=60)
    assert all(f"{name}: created" in done.stdout for name in names.values()), done.stdout
    assert broker.password not in done.stdout + done.stderr
    configs = topic_configs(broker.bootstrap, names.values(), broker.python_client())
    assert configs[names["raw"]]["message.timestamp.type"] == "CreateTime"
    for role in ("alerts", "signals", "dead", "late", "suppressed"):
        assert configs[names[role]]["message.timestamp.type"] == "LogAppendTime", role
    assert time.monotonic() - started < 60
