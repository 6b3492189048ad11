"""Fail fast when the Kafka broker cannot be reached: before a job is built or submitted, not minutes
later as a ``listNodes`` timeout inside Flink."""

from __future__ import annotations

import logging

from jobs.errors import UserError

TIMEOUT_S = 10.0


def require_broker(bootstrap_servers: str, timeout_s: float = TIMEOUT_S) -> None:
    """Raise :class:`UserError` naming the address when no bootstrap server answers Kafka's API
    version probe within ``timeout_s``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    # kafka-python logs every failed connection attempt at ERROR: the one message below says it all.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    millis = int(timeout_s * 1000)
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), bootstrap_timeout_ms=millis,
                         request_timeout_ms=millis).close()
    except (KafkaError, OSError, ValueError) as exc:
        raise UserError(
            f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:.0f} s "
            f"({type(exc).__name__}): check --bootstrap-servers, that the broker runs and listens there "
            "(`ttpflow kafka start` runs a local one on 127.0.0.1:9092)"
        ) from None
