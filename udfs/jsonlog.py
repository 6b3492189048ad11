"""Structured JSON logs. Callers pass facts as keyword fields; every field is redacted first.

Never pass a raw payload: log its ``raw_sha256`` and origin instead.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from udfs.redact import redact

_logger = logging.getLogger("ttpflow")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            body.update(redact(fields))
        return orjson.dumps(body, default=str).decode()


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    _logger.handlers[:] = [handler]
    _logger.setLevel(level)
    _logger.propagate = False


def log(msg: str, level: int = logging.INFO, **fields: Any) -> None:
    if _logger.isEnabledFor(level):
        _logger.log(level, msg, extra={"fields": fields})
