"""The ASGI application: ``tracker.web.app:app`` (uvicorn) or ``create_app(settings)``.

The composition root of the web: every route, middleware and exception handler is listed
below, in plain lists. The JSON API is the operation table ``api.OPERATIONS`` (each operation
a route here, and documented in ``/openapi.json``); everything else is HTML, CSV, iCalendar
or TwiML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tracker import logging_setup
from tracker.settings import Settings, get_settings
from tracker.web import (
    admin_health,
    api,
    auth,
    calendar_routes,
    errors,
    health,
    import_routes,
    openapi,
    outbox_page,
    pages_admin,
    pages_case,
    pages_inbox,
    pages_oncall,
    pages_queue,
    report_process,
    reports_routes,
    security_headers,
    webhooks,
)
from tracker.web.api_routing import to_route
from tracker.web.import_routes import IMPORTERS
from tracker.web.pages_render import STATIC_DIR, page
from tracker.web.reports_routes import READERS


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        # -- the JSON API: one route per operation, and its document ------------------------
        *(to_route(op) for op in api.OPERATIONS),
        openapi.route(api.OPERATIONS),
        # -- other outputs of the API: CSV and iCalendar -------------------------------------
        Route(
            "/api/reports/field-offices.csv", reports_routes.api_field_offices_csv, methods=["GET"]
        ),
        Route("/calendar/{token}.ics", calendar_routes.feed, methods=["GET"]),
        # -- Twilio webhooks (signature-checked) -----------------------------------------------
        Route(
            "/webhooks/twilio/status/{notification_id}",
            webhooks.status_callback,
            methods=["POST"],
            name="twilio_status",
        ),
        Route(webhooks.SMS_PATH, webhooks.inbound_sms, methods=["POST"], name="twilio_sms"),
        Route(webhooks.VOICE_PATH, webhooks.inbound_voice, methods=["POST"], name="twilio_voice"),
        # -- the pages ---------------------------------------------------------------------------
        *auth.routes,
        *pages_queue.routes,
        *pages_case.routes,
        *pages_admin.routes,
        *pages_oncall.routes,
        *pages_inbox.routes,
        Route(
            "/reports",
            page(reports_routes.reports_page, READERS, read_only=True),
            methods=["GET"],
            name="reports",
        ),
        Route(
            "/reports/field-offices.csv",
            page(reports_routes.reports_csv_page, READERS, read_only=True),
            methods=["GET"],
        ),
        Route(
            "/import", page(import_routes.import_form, IMPORTERS), methods=["GET"], name="import"
        ),
        Route("/import", page(import_routes.import_submit, IMPORTERS), methods=["POST"]),
        Route("/import/template.csv", page(import_routes.template_csv, IMPORTERS), methods=["GET"]),
        Route("/outbox", page(outbox_page.outbox_page), methods=["GET"], name="outbox"),
        Route(
            "/admin/health",
            admin_health.admin_health,
            methods=["GET"],
            name="admin_health",
        ),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def middleware(settings: Settings) -> list[Middleware]:
    # Order matters: the client address is settled first (uvicorn does the same under
    # ``amparo serve`` and the Procfile; a second pass over an untrusted peer changes nothing),
    # and the session is decoded before the CSRF check reads its token.
    return [
        Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=auth.SESSION_COOKIE,
            # The cookie outlives no session: the server-side checks are in ``sessions``.
            max_age=settings.session_max_hours * 3600,
            same_site="lax",
            https_only=settings.https,
        ),
        Middleware(auth.CSRFMiddleware),
    ]


# The API error shape for every route: no input ever yields a 500.
exception_handlers: dict[Any, Any] = dict(errors.exception_handlers)


@asynccontextmanager
async def _lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
    report_process.shutdown()


def create_app(
    settings: Settings | None = None, clock_started_at: datetime | None = None
) -> Starlette:
    """The app; ``clock_started_at`` when this process runs the embedded clock (``/healthz``)."""
    settings = settings or get_settings()
    app = Starlette(
        routes=routes(),
        middleware=middleware(settings),
        exception_handlers=exception_handlers,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.clock_started_at = clock_started_at
    security_headers.install(app, settings)
    logging_setup.install()
    return app


def __getattr__(name: str) -> Starlette:
    # ``tracker.web.app:app`` is built on first access so that importing this module
    # (tests, tools) does not read settings or touch ./var.
    if name == "app":
        return create_app()
    raise AttributeError(name)
