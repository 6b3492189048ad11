"""The job end to end through a SASL_SSL broker (issue 11, section 4).

The test makes a CA and the broker's keystore with the JDK's keytool, starts a KRaft broker of its
own whose only client listener is SASL_SSL (SCRAM-SHA-512 users created at format time with
``--add-scram``), and runs ``ttpflow run --kafka-config client.properties`` in the MiniCluster. The
client properties take the user's password from ``${file:...}``, so the secret appears nowhere on
the command line. A planted T1055 -> T1071 sequence must come back as one committed alert, read over
SASL_SSL with read_committed; a plaintext client and a wrong password must read nothing; and the
password must be in neither the job's output nor the Flink log written during the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobs.broker import require_broker
from jobs.errors import UserError
from jobs.kafka_props import resolve
from jobs.local.kafka import LocalKafka, free_port
from tests.conftest import consume_from_kafka, create_kafka_topic
from tests.integration.jobrun import PROJECT_ROOT, plain_event, stop_job, ttpflow

MIN = 60_000
T0 = 1_714_557_600_000
SCRAM = "SCRAM-SHA-512"
LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
SAN = "SAN=ip:127.0.0.1,dns:localhost"
ALERT_TIMEOUT_S = 150


@dataclass
class SecureBroker:
    bootstrap: str
    ca_pem: Path
    password: str  # the job user's SCRAM password: the secret that must never be shown
    password_file: Path

    def client_properties(self, password: str | None = None) -> dict[str, str]:
        secret = password if password is not None else f"${{file:{self.password_file}}}"
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": SCRAM,
            "sasl.jaas.config": f'{LOGIN} required username="ttpflow" password="{secret}";',
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_pem),
        }

    def python_client(self, password: str | None = None) -> dict[str, Any]:
        from jobs.kafka_props import kafka_python_args, resolve

        return kafka_python_args(resolve(self.client_properties(password)))


# keytool is a JVM per call: the quickest start (no C2 compiler, serial GC) saves a second each.
KEYTOOL = ["keytool", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-Xshare:auto"]


def _keytool(*calls: list[str]) -> None:
    """Run independent keytool calls side by side."""
    procs = [subprocess.Popen([*KEYTOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for args in calls]
    for args, proc in zip(calls, procs, strict=True):
        output = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, f"keytool {args[0]} failed: {output}"


def _make_tls(folder: Path) -> tuple[Path, Path, str]:
    """A self-signed CA (its certificate as PEM) and a PKCS12 broker keystore it signed, for 127.0.0.1."""
    ca, keystore, csr, crt, pem = (folder / n for n in ("ca.p12", "broker.p12", "broker.csr", "broker.crt", "ca.pem"))
    ca_pass, store_pass = uuid.uuid4().hex, uuid.uuid4().hex
    common = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2", "-storetype", "PKCS12"]
    _keytool(["-genkeypair", "-alias", "ca", "-dname", "CN=ttpflow-test-ca", "-ext", "bc:c", *common,
              "-keystore", str(ca), "-storepass", ca_pass],
             ["-genkeypair", "-alias", "broker", "-dname", "CN=localhost", "-ext", SAN, *common,
              "-keystore", str(keystore), "-storepass", store_pass])
    _keytool(["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca), "-storepass", ca_pass, "-file", str(pem)],
             ["-certreq", "-alias", "broker", "-keystore", str(keystore), "-storepass", store_pass, "-file", str(csr)])
    _keytool(["-gencert", "-alias", "ca", "-keystore", str(ca), "-storepass", ca_pass, "-infile", str(csr),
              "-outfile", str(crt), "-rfc", "-ext", SAN, "-validity", "2"],
             ["-importcert", "-noprompt", "-alias", "ca", "-file", str(pem), "-keystore", str(keystore),
              "-storepass", store_pass])
    _keytool(["-importcert", "-noprompt", "-alias", "broker", "-file", str(crt), "-keystore", str(keystore),
              "-storepass", store_pass])
    return pem, keystore, store_pass


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    folder = tmp_path_factory.mktemp("sasl-ssl")
    pem, keystore, store_pass = _make_tls(folder)
    admin_pass, password = uuid.uuid4().hex, f"s3cret-{uuid.uuid4().hex}"
    password_file = folder / "ttpflow.password"
    password_file.write_text(password + "\n")
    port, controller = free_port(), free_port()
    listener = "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"
    broker = LocalKafka(
        port=port, controller_port=controller, data_dir=folder / "kafka", stop_with_parent=True,
        # The one client listener speaks SASL_SSL; the broker talks to itself over it too, as admin.
        extra_properties={
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            listener: f'{LOGIN} required username="admin" password="{admin_pass}";',
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(keystore),
            "ssl.keystore.password": store_pass,
            "ssl.truststore.type": "PEM",  # the broker is its own inter-broker client
            "ssl.truststore.location": str(pem),
        },
        client_properties={
            "security.protocol": "SASL_SSL", "sasl.mechanism": SCRAM,
            "sasl.jaas.config": f'{LOGIN} required username="admin" password="{admin_pass}";',
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(pem),
        },
        format_args=["--add-scram", f"{SCRAM}=[name=admin,password={admin_pass}]",
                     "--add-scram", f"{SCRAM}=[name=ttpflow,password={password}]"],
    )
    broker.start(timeout_s=60)
    try:
        yield SecureBroker(broker.bootstrap_servers, pem, password, password_file)
    finally:
        broker.stop()


def _alerts(broker: SecureBroker, topic: str, entity: str, **kwargs: Any) -> list[dict[str, Any]]:
    records = consume_from_kafka(broker.bootstrap, topic, timeout_s=5, client=broker.python_client(), **kwargs)
    return [a for a in (json.loads(r.value) for r in records) if a["entity"] == entity]


def _security_is_on(broker: SecureBroker, topic: str) -> None:
    """The records on ``topic`` are read only with TLS and the right credentials."""
    from kafka.errors import KafkaError

    # Without TLS and credentials, or with a wrong password, nothing is read ...
    for who, other in (("a plaintext client", {"api_version_auto_timeout_ms": 3000}),
                       ("a wrong password", {**broker.python_client("not-the-password"),
                                             "api_version_auto_timeout_ms": 3000})):
        try:
            read = consume_from_kafka(broker.bootstrap, topic, timeout_s=4, client=other)
        except KafkaError:
            read = []
        assert read == [], f"{who} read the raw topic"
    assert len(consume_from_kafka(broker.bootstrap, topic, timeout_s=10, client=broker.python_client())) == 3
    # ... and the job's broker check says so, naming the address, not the password.
    with pytest.raises(UserError) as refused:
        require_broker(broker.bootstrap, timeout_s=5, properties=resolve(broker.client_properties("wrong-one")))
    assert broker.bootstrap in str(refused.value) and "wrong-one" not in str(refused.value)


def test_the_job_runs_end_to_end_over_sasl_ssl_and_never_shows_the_secret(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    started = time.monotonic()
    broker, client = secure_broker, secure_broker.python_client()
    suffix = uuid.uuid4().hex[:8]
    names = {k: f"secure-{k}-{suffix}" for k in ("raw", "alerts", "signals", "dead", "late")}
    for name in names.values():
        create_kafka_topic(broker.bootstrap, name, client=client)
    config = tmp_path / "client.properties"
    config.write_text("# the job's Kafka clients: SASL_SSL, SCRAM, the test's CA\n" + "".join(
        f"{k}={v}\n" for k, v in broker.client_properties().items()))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in (
        plain_event("s-a", T0, "secure-h1", "T1055", asset_criticality=9),
        plain_event("s-b", T0 + 3 * MIN, "secure-h1", "T1071"),
        plain_event("s-tick", T0 + 30 * MIN, "secure-tick", "T1082"),
    )))
    # A log folder of its own: PyFlink's default one is shared, and each run truncates its file.
    log_dir = tmp_path / "flink-log"
    env = {**os.environ, "FLINK_LOG_DIR": str(log_dir)}
    out = tmp_path / "job.out"
    cmd = [
        sys.executable, "-m", "jobs.cli", "run", "--bootstrap-servers", broker.bootstrap,
        "--kafka-config", str(config),
        "--raw-topic", names["raw"], "--alerts-topic", names["alerts"], "--signals-topic", names["signals"],
        "--dead-letter-topic", names["dead"], "--late-topic", names["late"],
        "--group-id", f"secure-{suffix}", "--transactional-id-prefix", f"secure-{suffix}",
        "--checkpoint-interval", "2s", "--out-of-orderness", "5s", "--idleness", "5s",
    ]
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:  # while the job starts: publish the sequence with replay, and show that security is on
            replayed = ttpflow("replay", str(events), "--topic", names["raw"], "--bootstrap-servers",
                               broker.bootstrap, "--kafka-config", str(config), timeout_s=60)
            assert "published 3 records" in replayed.stderr
            assert broker.password not in replayed.stdout + replayed.stderr
            _security_is_on(broker, names["raw"])
            # ~40 s on a quiet machine (the job's first minute is building its graph); the bound is for a busy one.
            deadline, mine = time.monotonic() + ALERT_TIMEOUT_S, []
            while time.monotonic() < deadline and not mine:
                assert proc.poll() is None, f"the job ended (exit {proc.returncode}):\n{out.read_text()[-3000:]}"
                mine = _alerts(broker, names["alerts"], "secure-h1")
                time.sleep(1)
            assert len(mine) == 1, f"one committed alert over SASL_SSL; job output:\n{out.read_text()[-3000:]}"
            assert [e["event_id"] for e in mine[0]["evidence"]] == ["s-a", "s-b"]
        finally:
            stop_job(proc)

    shown = out.read_text(errors="replace")
    assert "job starting" in shown and '"sasl.jaas.config":"[hidden]"' in shown, "the masked properties are logged"
    assert broker.password not in shown, "the secret is in the job's output"
    logged = ""
    for path in log_dir.iterdir():
        written = path.read_text(errors="replace")
        assert broker.password not in written, f"the secret is in {path}"
        logged += written
    assert "sasl.jaas.config = [hidden]" in logged, "the job's JVM Kafka clients ran with SASL (Kafka logs them)"
    print(f"end to end over SASL_SSL in {time.monotonic() - started:.1f} s")
