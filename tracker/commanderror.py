"""``CommandError``: how a command of ``amparo`` says what went wrong.

A core module, so that the command modules of every layer (``jobs.commands``,
``tracker.sms_commands``, ``tracker.data_commands``) can raise it without importing the
entry point (``tracker.cli``) that prints it.
"""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 1 (or ``status``)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status
