"""Fail fast when the Kafka broker cannot be reached: before a job is built or submitted, not minutes
later as a ``listNodes`` timeout inside Flink."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from jobs.errors import UserError

TIMEOUT_S = 10.0


def require_broker(bootstrap_servers: str, timeout_s: float = TIMEOUT_S,
                   properties: Mapping[str, str] | None = None) -> None:
    """Raise :class:`UserError` naming the address when no bootstrap server answers Kafka's API
    version probe within ``timeout_s``. ``properties``: resolved Java client properties
    (:mod:`jobs.kafka_props`), so the check speaks SASL/TLS as the job will."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from jobs.kafka_props import PythonClientUnsupported, kafka_python_args

    try:
        client = kafka_python_args(properties or {})
    except PythonClientUnsupported as exc:
        # The job's JVM clients take what kafka-python cannot: check that the broker listens, no more.
        from udfs.jsonlog import log

        log("broker check by TCP only", level=logging.WARNING, reason=exc.message)
        _require_listener(bootstrap_servers, timeout_s)
        return

    # kafka-python logs every failed connection attempt at ERROR: the one message below says it all.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    millis = int(timeout_s * 1000)
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), bootstrap_timeout_ms=millis,
                         request_timeout_ms=millis, **client).close()
    except (KafkaError, OSError, ValueError) as exc:
        # The exception's text is left out: kafka-python may quote its configuration.
        raise UserError(
            f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:.0f} s "
            f"({type(exc).__name__}): check --bootstrap-servers, that the broker runs and listens there "
            "(`ttpflow kafka start` runs a local one on 127.0.0.1:9092)"
            + (f"; with security.protocol {client['security_protocol']}: that the listener speaks it and the "
               "credentials and CA of --kafka-config / --kafka-property are right" if "security_protocol" in client
               else "")
        ) from None


def _require_listener(bootstrap_servers: str, timeout_s: float) -> None:
    import socket

    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError):
            continue
    raise UserError(f"no Kafka broker listens at {bootstrap_servers} (TCP, within {timeout_s:.0f} s): check "
                    "--bootstrap-servers and that the broker runs and listens there")
