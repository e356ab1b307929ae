"""The access log of the pages: no query strings (a search may hold a name or an A-number).

The pages themselves live in ``pages_queue`` (home), ``pages_case`` (intake and case page),
``pages_admin``, ``reports_routes``, ``import_routes`` and ``outbox_page``; sign-in, sessions
and CSRF are ``tracker.web.auth``; ``tracker.web.app`` lists their routes.
"""

from __future__ import annotations

import logging


class QueryRedactingFilter(logging.Filter):
    """Drop query strings from access-log lines: a search (``?q=``) may hold a name or an
    A-number, and logs must never carry either."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _query = args[2].partition("?")
            if sep:
                record.args = (*args[:2], path + "?[redacted]", *args[3:])
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QueryRedactingFilter) for f in logger.filters):
        logger.addFilter(QueryRedactingFilter())
