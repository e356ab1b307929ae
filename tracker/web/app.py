"""The ASGI application: ``tracker.web.app:app`` (uvicorn) or ``create_app()`` (tests)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from tracker import logging_setup
from tracker.settings import Settings, get_settings
from tracker.web import security_headers
from tracker.web.errors import exception_handlers as api_exception_handlers

log = logging.getLogger(__name__)

# Each module exposes ``routes`` (and optionally ``middleware(settings)`` and
# ``exception_handlers``); one module a concern, so that adding a feature never means editing
# someone else's routes.
ROUTE_MODULES: Sequence[str] = (
    "tracker.web.health",
    "tracker.web.calendar_routes",
    "tracker.web.reports_routes",
    "tracker.web.import_routes",
    "tracker.web.api",
    "tracker.web.pages",
    "tracker.web.webhooks",
    "tracker.web.outbox_page",
)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    routes: list[BaseRoute] = []
    middleware: list[Middleware] = []
    # The API error shape (tracker.web.errors) for every module: no input ever yields a 500.
    handlers: dict[Any, Any] = dict(api_exception_handlers)
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        routes.extend(module.routes)
        if hasattr(module, "middleware"):
            middleware.extend(module.middleware(settings))
        handlers.update(getattr(module, "exception_handlers", {}))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.settings = settings
    security_headers.install(app, settings)
    logging_setup.install()
    return app


def __getattr__(name: str) -> Starlette:
    # ``tracker.web.app:app`` is built on first access so that importing this module
    # (tests, tools) does not read settings or touch ./var.
    if name == "app":
        return create_app()
    raise AttributeError(name)
