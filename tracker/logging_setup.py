"""Log lines hold no identities: access-log paths and query strings are redacted.

The access log is the one place where what a user typed reaches a log verbatim: a search
(``/?q=<name>``), a filter, and the calendar feed URL whose path *is* the credential
(``/calendar/<token>.ics``). ``install()`` puts a filter on uvicorn's access logger (and on
httpx's request lines); it is called by ``create_app`` so that every way of serving the app
(``amparo serve``, ``--embedded``, the Procfile's bare ``uvicorn``) has it, and by the CLI for
the clock and the worker. SQLAlchemy's DEBUG result rows (``-v``) are dropped. SQL parameters
are hidden by the engine (``hide_parameters=True`` in ``tracker.db``); the ``log`` SMS
transport logs no body.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
_QUERY = re.compile(r"\?\S*")
_CALENDAR = re.compile(r"(/calendar/)[^\s?/]+")


def redact_path(path: str) -> str:
    """``/calendar/<token>.ics?x=1`` → ``/calendar/[redacted]?[redacted]``."""
    return _CALENDAR.sub(rf"\g<1>{REDACTED}", _QUERY.sub(f"?{REDACTED}", path))


class MessageRedactor(logging.Filter):
    """For a logger whose lines carry URLs in any shape (httpx's "HTTP Request: GET <url>")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_path(record.getMessage()), None
        return True


class NoResultRows(logging.Filter):
    """SQLAlchemy logs each fetched row at DEBUG (``amparo -v``): decrypted names and phones.
    Statements (INFO) stay, their parameters hidden by the engine."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


class AccessLogRedactor(logging.Filter):
    """Rewrites the path of uvicorn's access record: ``(client, method, path, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            record.args = (*args[:2], redact_path(str(args[2])), *args[3:])
        else:  # an access line in another shape: redact the whole rendered message
            record.msg, record.args = redact_path(record.getMessage()), None
        return True


FILTERS: tuple[tuple[str, type[logging.Filter]], ...] = (
    (ACCESS_LOGGER, AccessLogRedactor),
    ("httpx", MessageRedactor),
    ("sqlalchemy.engine.Engine", NoResultRows),
)


def install() -> None:
    """Idempotent: called by ``create_app`` and by every ``amparo`` command (web, clock, worker)."""
    for name, kind in FILTERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
