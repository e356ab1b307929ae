"""``GET /healthz``: the database answers, and the background processes are alive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tracker.db import get_sessionmaker


def healthz(request: Request) -> JSONResponse:
    try:
        with get_sessionmaker()() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure here means "unhealthy", whatever its class
        return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def clock_warning(now: datetime) -> str | None:
    """The banner the pages show when the clock's heartbeat is stale (None: all is well).

    Hook for the clock issue: it knows the heartbeat's name and interval. Until then the
    pages show no banner.
    """
    return None


routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
