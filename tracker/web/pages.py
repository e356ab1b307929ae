"""The server-rendered pages: one registry entry for all of them (``ROUTE_MODULES``).

The pages live in ``pages_queue`` (home), ``pages_case`` (intake and case page) and
``pages_admin``; sign-in, sessions and CSRF are ``tracker.web.auth``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from tracker.settings import Settings
from tracker.web import auth, pages_admin, pages_case, pages_queue
from tracker.web.pages_render import STATIC_DIR

routes: list[BaseRoute] = [
    *auth.routes,
    *pages_queue.routes,
    *pages_case.routes,
    *pages_admin.routes,
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]


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


def middleware(settings: Settings) -> Sequence[Middleware]:
    redact_access_log()
    return auth.middleware(settings)
