"""Structured JSON logs. Callers pass facts as keyword fields; every field is redacted first.

Never pass a raw payload: log its ``raw_sha256`` and origin instead.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import orjson

from udfs.redact import redact

_logger = logging.getLogger("ttpflow")
# Facts every line carries: job id, operator (the task), subtask; set once where they are known (a
# PyFlink function's open(): udfs.flink_functions._log_context), never per event. Per thread: a local
# run's Python workers are threads of the client's own process (loopback), whose lines are the job's.
_local = threading.local()


def _context() -> dict[str, Any]:
    context = getattr(_local, "context", None)
    if context is None:
        context = _local.context = {}
    return context


def bind(**fields: Any) -> None:
    """Add ``fields`` (None values skipped) to every later log line of this thread."""
    _context().update({k: v for k, v in fields.items() if v is not None})


def unbind(*names: str) -> None:
    context = _context()
    for name in names:
        context.pop(name, None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = getattr(_local, "context", None)
        if context:
            body.update(redact(context))
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
