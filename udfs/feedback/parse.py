"""The feedback topic's records to verdicts, in the job's one small Python step of the feedback path
(stateless; the join to the alerts is JVM SQL, :mod:`udfs.feedback.sql`).

Each record becomes one JSON line the SQL reads with ``JSON_VALUE``: a verdict
``{"ok": true, "alert_id", "verdict", "analyst", "at_ms", "ts", "unknown_letter"}`` (the
dead letter to emit, as text, should no alert of that id turn up), or ``{"ok": false, "letter"}``,
a dead letter with reason ``invalid_feedback``. Both dead letters keep the raw payload and its
topic, partition and offset, like every dead letter (schemas.dead_letter). No pyflink here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from schemas.dead_letter import DeadLetter
from schemas.event import Origin
from schemas.feedback import FeedbackError, parse_verdict

PARSER_VERSION = "feedback/1"
SOURCE_FORMAT = "feedback"
INVALID = "invalid_feedback"
UNKNOWN = "unknown_alert_id"


class ParseFeedback:
    """``(topic, partition, offset, record time ms, payload)`` to one JSON line (see the module doc)."""

    def __init__(self, alerts_topic: str, wait_ms: int, max_raw_bytes: int) -> None:
        self.alerts_topic = alerts_topic
        self.wait_ms = wait_ms
        self.max_raw_bytes = max_raw_bytes

    def __call__(self, row: Sequence[Any]) -> str:
        topic, partition, offset, record_ms, payload = row[0], row[1], row[2], row[3], bytes(row[4] or b"")
        origin = Origin(topic=topic, partition=partition, offset=offset)
        try:
            verdict = parse_verdict(payload)
        except FeedbackError as err:
            return _json({"ok": False, "letter": self._letter(payload, origin, INVALID, str(err))})
        at_ms = verdict.at_ms()
        detail = (f"field alert_id: no alert {verdict.alert_id!r} on the alerts topic {self.alerts_topic!r} "
                  f"within {self.wait_ms // 1000} s of the verdict (alerts are remembered {RETENTION_DAYS} days)")
        return _json({
            "ok": True, "alert_id": verdict.alert_id, "verdict": verdict.verdict, "analyst": verdict.analyst,
            "at_ms": at_ms, "ts": at_ms if at_ms is not None else int(record_ms or 0),
            "unknown_letter": self._letter(payload, origin, UNKNOWN, detail),
        })

    def _letter(self, payload: bytes, origin: Origin, reason: str, detail: str) -> str:
        letter = DeadLetter.of(payload, reason=reason, detail=detail, origin=origin, parser_version=PARSER_VERSION,
                               raw_sha256=hashlib.sha256(payload).hexdigest()[:16], source_format=SOURCE_FORMAT,
                               max_raw_bytes=self.max_raw_bytes)
        return letter.model_dump_json()


RETENTION_DAYS = 90  # how long the join remembers an alert it read back (udfs.feedback.sql)


def _json(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()


def as_text(value: object) -> str:
    """A SQL string as a Python operator's string (jobs.feedback: the streams must union)."""
    return str(value)
