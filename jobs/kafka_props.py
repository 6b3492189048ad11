"""Kafka client properties for every Kafka client ttpflow runs: the job's source and sinks (JVM),
``require_broker``, ``ttpflow replay`` and the local broker's probe (kafka-python).

Given as ``--kafka-config FILE`` (a Java client properties file) and ``--kafka-property KEY=VALUE``
(repeatable; wins over the file). A value may reference a secret instead of holding it:
``${env:NAME}`` (an environment variable) or ``${file:/path}`` (a file's text, one trailing newline
dropped). References are resolved only where a client is built (:func:`client_properties`), so the
job's arguments, which Flink prints, and the pickled :class:`~schemas.config.JobConfig` hold the
reference, never the secret. Anything shown to a person goes through :func:`masked`.

The job's JVM clients take every property as it is (login module class names are moved to the Kafka
connector's shaded package). kafka-python, which the Python tools use, takes a subset: see
:func:`kafka_python_args`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jobs.errors import UserError
from udfs.errors import Location

Properties = tuple[tuple[str, str], ...]


class PythonClientUnsupported(UserError):
    """Properties the job's JVM clients take but kafka-python cannot (a JKS truststore, OAUTHBEARER)."""


MASK = "[hidden]"
# Values of keys holding any of these are never shown (a superset of what Kafka's own PASSWORD config
# type hides: sasl.jaas.config, ssl.key.password, ssl.keystore.key ...).
_SECRET_KEY_PARTS = ("password", "secret", "token", "sasl.jaas.config", "ssl.key", "credentials")
_REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")
# The Flink SQL Kafka connector shades the Kafka client: a login module or callback class written
# with Kafka's own package name (as in Kafka's docs) is not found inside the job.
KAFKA_PACKAGE = "org.apache.kafka."
SHADED_PACKAGE = "org.apache.flink.kafka.shaded.org.apache.kafka."


def is_secret_property(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def masked(properties: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """The properties as they may be logged or printed: secret-bearing values replaced by ``[hidden]``."""
    items = properties.items() if isinstance(properties, Mapping) else properties
    return {key: (MASK if is_secret_property(key) else value) for key, value in items}


def parse_property(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--kafka-property`` (argparse type); the value may hold ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        import argparse

        # Never echo the text: it may be a secret given in the wrong shape.
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {len(text)} characters without a key and '='")
    return key.strip(), value.strip()


def read_properties_file(path: str | Path) -> Properties:
    """The properties of a Java client properties file, in order, read as ``java.util.Properties``
    reads them: ``key=value``, ``key: value`` or ``key value``; ``#`` and ``!`` comment lines; a line
    ending in an odd number of ``\\`` goes on on the next (as JAAS configs often do); ``\\t``,
    ``\\uXXXX``, ``\\=`` ... escapes. A line with a key and no value is an error naming file and line,
    never the line's text (it may be a secret pasted on a line of its own)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--kafka-config {path}: cannot read it ({type(exc).__name__})") from None
    pairs: list[tuple[str, str]] = []
    pending, start = "", 0
    # Java's line ends and blanks, not Python's (which include NBSP, U+2028 ...)
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        line = raw.lstrip(_BLANKS)
        if not pending and (not line or line[0] in "#!"):
            continue
        if not pending:
            start = number
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1]
            continue
        logical, pending = pending + line, ""
        pairs.append(_property(logical, Location(str(path), start)))
    if pending:
        pairs.append(_property(pending, Location(str(path), start)))
    return tuple(pairs)


_BLANKS = " \t\f"
_KEY = re.compile(r"((?:[^\\=: \t\f]|\\.)+)(?:[ \t\f]*[=:][ \t\f]*|[ \t\f]+)(.*)$", re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def _property(logical: str, where: Location) -> tuple[str, str]:
    match = _KEY.match(logical)  # the value keeps trailing blanks, as Java's does
    if match is None or not match.group(2).strip(_BLANKS):
        raise UserError("expected key=value (a Java client property with a value)", location=where)
    return _unescape(match.group(1)), _unescape(match.group(2))


def gather(config_file: str | None, properties: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The file's properties, then the command line's (which win), references not yet resolved."""
    merged = dict(read_properties_file(config_file)) if config_file else {}
    merged.update(properties)
    return merged


def resolve(properties: Mapping[str, str]) -> dict[str, str]:
    """Every ``${env:NAME}`` and ``${file:/path}`` replaced by the secret it names. A missing
    variable or unreadable file is a :class:`UserError` naming the key and the reference."""

    def value_of(key: str, match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "env":
            if name not in os.environ:
                raise UserError(f"Kafka property {key}: environment variable {name} is not set")
            return os.environ[name]
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"Kafka property {key}: cannot read secret file {name} ({type(exc).__name__})") from None
        return text.removesuffix("\n").removesuffix("\r")  # the file's one line end, not the secret's blanks

    return {key: _REFERENCE.sub(lambda m, k=key: value_of(k, m), value) for key, value in properties.items()}


def client_properties(config_file: str | None, properties: Iterable[tuple[str, str]]) -> dict[str, str]:
    """What a Kafka client is built with: the file and command-line properties, secrets resolved."""
    return resolve(gather(config_file, properties))


def jvm_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """The properties as the job's Kafka connector (shaded client) wants them: Kafka class names in
    ``sasl.jaas.config`` and ``*.class`` values moved to the shaded package."""
    out = {}
    for key, value in properties.items():
        if key == "sasl.jaas.config" or key.endswith(".class"):
            value = re.sub(rf"(?<![\w.]){re.escape(KAFKA_PACKAGE)}", SHADED_PACKAGE, value)
        out[key] = value
    return out


# -- kafka-python -------------------------------------------------------------------------------

# Java property -> kafka-python argument, taken as they are.
_DIRECT = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "client.id": "client_id",
    "ssl.ca.location": "ssl_cafile",  # librdkafka's names, for PEM files
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.crl.location": "ssl_crlfile",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
}
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))')
_JAAS_MODULES = ("PlainLoginModule", "ScramLoginModule")


def _jaas_credentials(jaas: str) -> tuple[str, str]:
    """username and password of a PLAIN or SCRAM ``sasl.jaas.config`` (no value in any error)."""
    module = jaas.split(None, 1)[0] if jaas.strip() else ""
    if not module.endswith(_JAAS_MODULES):
        raise PythonClientUnsupported(
            "sasl.jaas.config: the Python tools (kafka-python) take PlainLoginModule or ScramLoginModule "
            f"credentials, not {module.rsplit('.', 1)[-1] or 'an empty value'}")
    options = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _JAAS_OPTION.finditer(jaas)}
    if "username" not in options or "password" not in options:
        raise UserError("sasl.jaas.config: needs username=\"...\" and password=\"...\"")
    return options["username"], re.sub(r"\\(.)", r"\1", options["password"])


def _pem_store(properties: Mapping[str, str], store: str) -> str | None:
    location = properties.get(f"ssl.{store}.location")
    if not location:
        return None
    kind = properties.get(f"ssl.{store}.type", "JKS").upper()
    if kind != "PEM":
        raise PythonClientUnsupported(
            f"ssl.{store}.location: the Python tools (kafka-python) read PEM files only, this {store} is {kind}; set "
            f"ssl.{store}.type=PEM (Kafka's JVM clients read PEM too) or give "
            f"{'ssl.ca.location' if store == 'truststore' else 'ssl.certificate.location'} as well")
    return location


def kafka_python_args(properties: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python arguments for resolved Java client properties: security.protocol, sasl.mechanism
    (PLAIN, SCRAM-SHA-256/512), sasl.jaas.config (PLAIN/SCRAM username and password), TLS from PEM
    files (ssl.truststore.location with ssl.truststore.type=PEM or ssl.ca.location; for mTLS
    ssl.keystore.location with type PEM holding key and chain, or ssl.certificate.location +
    ssl.key.location; ssl.key.password), ssl.endpoint.identification.algorithm, client.id.
    Other properties tune the job's JVM clients only."""
    args: dict[str, Any] = {arg: properties[key] for key, arg in _DIRECT.items() if properties.get(key)}
    if properties.get("sasl.jaas.config"):
        args["sasl_plain_username"], args["sasl_plain_password"] = _jaas_credentials(properties["sasl.jaas.config"])
    truststore = _pem_store(properties, "truststore") if "ssl_cafile" not in args else None
    if truststore:
        args["ssl_cafile"] = truststore
    keystore = _pem_store(properties, "keystore") if "ssl_certfile" not in args else None
    if keystore:
        args["ssl_certfile"] = keystore  # key and chain in one PEM file, as Kafka's PEM keystore holds them
    if "ssl.endpoint.identification.algorithm" in properties:
        args["ssl_check_hostname"] = properties["ssl.endpoint.identification.algorithm"].strip().lower() == "https"
    return args
