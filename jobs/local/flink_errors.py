"""Flink's own reason for a failed ``flink run`` / ``flink stop``, out of the client's output.

A refused submission prints a Python traceback, a Py4J error and a chain of Java ``Caused by:``
lines, and the client exits 31 whatever went wrong. The reason a user can act on is the innermost
cause that is not a wrapper (``Python process exits with code: 1``, ``Could not start the
JobMaster``, ``Failed to execute job``); this module finds it and says what to do for the refusals
ttpflow knows.
"""

from __future__ import annotations

import re

# "Caused by: a.b.CException: message", or a top-level "a.b.CException: message" / "XError: message".
_CAUSE = re.compile(r"^\s*(?:Caused by:\s*|:\s*)?((?:[\w$]+\.)*[\w$]*(?:Exception|Error)):\s?(.*)$")
# An exception class name at the start of a message, as wrappers repeat their cause's.
_CLASS_PREFIX = re.compile(r"^(?:[\w$]+\.)+[\w$]*(?:Exception|Error):\s*")
_WRAPPERS = (
    re.compile(r"^Python process exits with code: \d+$"),
    re.compile(r"^Could not start the JobMaster\.?$"),
    re.compile(r"^Failed to execute job '.*'\.?$"),
    re.compile(r"^An error occurred while calling o\d+\.\w+\.?$"),
    re.compile(r"^Job failed during initialization of JobManager$"),
    re.compile(r"^$"),
)
_GENERIC = {"org.apache.flink.client.program.ProgramAbortException", "py4j.protocol.Py4JJavaError"}

NON_RESTORED_STATE = "Cannot map checkpoint/savepoint state"
NON_RESTORED_HINT = (
    "The savepoint holds state of an operator this job no longer has (a correlation rule removed or "
    "changed since, see jobs/uids.py). Resume with --allow-non-restored-state to drop that state, or "
    "resume with the rule pack the savepoint was taken with."
)


def failure_reason(output: str) -> str | None:
    """The innermost meaningful cause in ``output`` (class names stripped), or None."""
    causes: list[str] = []
    for line in output.splitlines():
        match = _CAUSE.match(line)
        if not match or match.group(1) in _GENERIC:
            continue
        message = match.group(2).strip()
        while _CLASS_PREFIX.match(message):
            message = _CLASS_PREFIX.sub("", message, count=1)
        if any(w.match(message) for w in _WRAPPERS):
            continue
        causes.append(message)
    return causes[-1] if causes else None


def explain(output: str) -> str | None:
    """Flink's reason, plus what to do when ttpflow knows the case."""
    reason = failure_reason(output)
    if reason is None:
        return None
    if NON_RESTORED_STATE in reason:
        return f"{reason}\n{NON_RESTORED_HINT}"
    return reason
