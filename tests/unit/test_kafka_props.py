"""Kafka client properties (issue 11, section 4): the properties file, secret references, masking,
the JVM and kafka-python forms, and how the job options carry them."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.errors import UserError
from jobs.kafka_props import (
    MASK,
    SHADED_PACKAGE,
    client_properties,
    is_secret_property,
    jvm_properties,
    kafka_python_args,
    masked,
    parse_property,
    read_properties_file,
    resolve,
)
from jobs.options import add_kafka_job_args, config_from_args

SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
SECRET = "pa55-w0rd-never-shown"


def _jaas(password: str = SECRET, module: str = SCRAM) -> str:
    return f'{module} required username="ttpflow" password="{password}";'


# -- masking -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "sasl.jaas.config", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
    "ssl.keystore.key", "sasl.oauthbearer.token.endpoint.url", "basic.auth.credentials.source",
    "client.secret", "SASL.JAAS.CONFIG", "sasl.password",
])
def test_secret_keys_are_masked(key: str) -> None:
    assert is_secret_property(key)
    assert masked({key: SECRET}) == {key: MASK}


def test_other_keys_are_shown_as_they_are() -> None:
    shown = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "ssl.truststore.location": "/ca.pem"}
    assert masked(shown) == shown
    assert masked([("sasl.jaas.config", _jaas()), *shown.items()]) == {"sasl.jaas.config": MASK, **shown}


# -- --kafka-property ----------------------------------------------------------------------------


def test_a_property_splits_at_the_first_equals_sign() -> None:
    assert parse_property(" sasl.jaas.config = a=b;c= ") == ("sasl.jaas.config", "a=b;c=")


@pytest.mark.parametrize("text", [SECRET, f"={SECRET}"])
def test_a_malformed_property_is_refused_without_its_text(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse_property(text)
    assert SECRET not in str(caught.value)


# -- --kafka-config ------------------------------------------------------------------------------


def test_the_file_reads_as_java_properties(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(
        "# a comment\n! another\n\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism : SCRAM-SHA-512\n"
        "client.id   ttpflow\n"
        f"sasl.jaas.config={SCRAM} required \\\n"
        '    username="ttpflow" \\\n'
        '    password="p\\\\w";\n'
        "ssl.truststore.location=C:\\\\certs\\\\ca.pem\n"
        "odd\\=key=\\u0041\\tb\n"
    )
    assert read_properties_file(path) == (
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("client.id", "ttpflow"),
        ("sasl.jaas.config", f'{SCRAM} required username="ttpflow" password="p\\w";'),
        ("ssl.truststore.location", "C:\\certs\\ca.pem"),
        ("odd=key", "A\tb"),
    )


def test_a_line_without_a_value_names_file_and_line_not_its_text(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(f"security.protocol=SASL_SSL\n\n{SECRET}\n")
    with pytest.raises(UserError) as caught:
        read_properties_file(path)
    assert str(caught.value).startswith(f"{path}:3: expected key=value")
    assert SECRET not in str(caught.value)


@given(st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9.\-]{0,30}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).filter(lambda v: v.strip()),
    max_size=8,
))
def test_java_escaped_properties_read_back(props: dict[str, str]) -> None:
    # Written as java.util.Properties.store would escape them: every backslash, and a leading blank.
    def escape(value: str) -> str:
        value = value.replace("\\", "\\\\")
        return "\\" + value if value[0] == " " else value

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.properties"
        path.write_text("".join(f"{k}={escape(v)}\n" for k, v in props.items()), encoding="utf-8")
        assert dict(read_properties_file(path)) == props


# -- secret references ---------------------------------------------------------------------------


def test_references_resolve_from_environment_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("TTPFLOW_TEST_SECRET", "from-env")
    resolved = resolve({
        "sasl.jaas.config": _jaas(f"${{file:{secret_file}}}"),
        "ssl.key.password": "${env:TTPFLOW_TEST_SECRET}",
        "client.id": "plain",
    })
    assert resolved == {"sasl.jaas.config": _jaas(SECRET), "ssl.key.password": "from-env", "client.id": "plain"}


def test_an_unresolvable_reference_names_key_and_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTPFLOW_TEST_MISSING", raising=False)
    with pytest.raises(UserError, match=r"ssl.key.password: environment variable TTPFLOW_TEST_MISSING is not set"):
        resolve({"ssl.key.password": "${env:TTPFLOW_TEST_MISSING}"})
    with pytest.raises(UserError, match=r"sasl.jaas.config: cannot read secret file .*nope"):
        resolve({"sasl.jaas.config": _jaas(f"${{file:{tmp_path / 'nope'}}}")})


def test_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n")
    assert client_properties(str(path), [("security.protocol", "SASL_SSL")]) == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}


# -- the job's JVM clients -----------------------------------------------------------------------


def test_login_modules_move_to_the_connectors_shaded_package() -> None:
    out = jvm_properties({"sasl.jaas.config": _jaas(),
                          "sasl.login.callback.handler.class": "org.apache.kafka.common.security.Handler",
                          "client.id": "org.apache.kafka.not-a-class"})
    assert out["sasl.jaas.config"].startswith(SHADED_PACKAGE + "common.security.scram.ScramLoginModule required")
    assert out["sasl.login.callback.handler.class"] == SHADED_PACKAGE + "common.security.Handler"
    assert out["client.id"] == "org.apache.kafka.not-a-class"
    assert jvm_properties(out) == out, "already shaded names stay"


# -- kafka-python (require_broker, replay, the local broker's probe) -----------------------------


def test_sasl_ssl_with_scram_and_a_pem_truststore() -> None:
    assert kafka_python_args({
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": _jaas('q\\"uote'), "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem",
        "ssl.endpoint.identification.algorithm": "", "linger.ms": "5",
    }) == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "ttpflow",
        "sasl_plain_password": 'q"uote', "ssl_cafile": "/ca.pem", "ssl_check_hostname": False,
    }


def test_mtls_from_pem_files() -> None:
    assert kafka_python_args({
        "security.protocol": "SSL", "ssl.ca.location": "/ca.pem", "ssl.keystore.type": "PEM",
        "ssl.keystore.location": "/client.pem", "ssl.key.password": "k",
    }) == {"security_protocol": "SSL", "ssl_cafile": "/ca.pem", "ssl_certfile": "/client.pem", "ssl_password": "k"}


def test_a_jks_truststore_asks_for_pem() -> None:
    with pytest.raises(UserError, match=r"PEM files only.*ssl.truststore.type=PEM"):
        kafka_python_args({"ssl.truststore.location": "/ts.jks", "ssl.truststore.password": SECRET})
    # ... unless the PEM CA is given as well, for the Python tools alone
    assert kafka_python_args({"ssl.truststore.location": "/ts.jks", "ssl.ca.location": "/ca.pem"}) == {
        "ssl_cafile": "/ca.pem"}


def test_an_unsupported_login_module_is_named_without_the_secret() -> None:
    jaas = f'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required token="{SECRET}";'
    with pytest.raises(UserError, match="not OAuthBearerLoginModule") as caught:
        kafka_python_args({"sasl.jaas.config": jaas})
    assert SECRET not in str(caught.value)


# -- the job options -----------------------------------------------------------------------------


def _config(argv: list[str]):
    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    return config_from_args(parser.parse_args(argv))


def test_the_job_config_carries_references_never_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTPFLOW_TEST_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    Path("client.properties").write_text(f"sasl.jaas.config={_jaas('${env:TTPFLOW_TEST_SECRET}')}\n")
    config = _config(["--kafka-config", "client.properties",
                      "--kafka-property", "security.protocol=SASL_SSL", "--kafka-property", "ssl.key.password=x"])
    assert config.kafka_config_file == str(tmp_path / "client.properties")
    assert config.kafka_properties == (("security.protocol", "SASL_SSL"), ("ssl.key.password", "x"))
    assert SECRET.encode() not in pickle.dumps(config), "the pickled config (operators carry it) holds no secret"
    assert "kafka" not in repr(config) and "ssl.key.password" not in repr(config)
    assert pickle.loads(pickle.dumps(config)) == config
    resolved = client_properties(config.kafka_config_file, config.kafka_properties)
    assert resolved["sasl.jaas.config"] == _jaas(SECRET)


def test_a_reference_that_cannot_resolve_stops_the_job_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTPFLOW_TEST_MISSING", raising=False)
    with pytest.raises(UserError, match="TTPFLOW_TEST_MISSING is not set"):
        _config(["--kafka-property", "ssl.key.password=${env:TTPFLOW_TEST_MISSING}"])


def test_cluster_commands_forward_the_options_with_an_absolute_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.commands.cluster import _job_args

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(kafka_config="client.properties", kafka_properties=[("security.protocol", "SSL")],
                              passthrough=["--kafka-config=other.properties", "--parallelism", "2"],
                              bootstrap_servers=None)
    assert _job_args(args) == [
        "--kafka-config", str(tmp_path / "client.properties"), "--kafka-property", "security.protocol=SSL",
        f"--kafka-config={tmp_path / 'other.properties'}", "--parallelism", "2",
    ]


def test_the_broker_check_falls_back_to_tcp_for_what_only_the_jvm_takes() -> None:
    import socket

    from jobs.broker import require_broker

    jks = {"security.protocol": "SSL", "ssl.truststore.location": "/ts.jks", "ssl.truststore.password": SECRET}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        require_broker(f"127.0.0.1:{port}", timeout_s=2, properties=jks)  # listens: passes
    with pytest.raises(UserError, match=f"no Kafka broker listens at 127.0.0.1:{port}") as caught:
        require_broker(f"127.0.0.1:{port}", timeout_s=2, properties=jks)
    assert SECRET not in str(caught.value)
