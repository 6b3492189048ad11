"""Errors the command line reports without a traceback. In a module of its own so that the commands
and ``jobs.cli`` (which also runs as ``python -m jobs.cli``, i.e. as ``__main__``) share one class."""

from __future__ import annotations

from udfs.errors import TtpflowError


class UserError(TtpflowError):
    """An error the user can act on; printed without a traceback."""
