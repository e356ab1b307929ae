"""The ASGI application: ``tracker.web.app:app`` (uvicorn) or ``create_app()`` (tests)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from tracker.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Each module exposes ``routes`` (and optionally ``middleware(settings)``); one module a
# concern, so that adding a feature never means editing someone else's routes.
ROUTE_MODULES: Sequence[str] = ("tracker.web.health",)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    routes: list[BaseRoute] = []
    middleware: list[Middleware] = []
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        routes.extend(module.routes)
        if hasattr(module, "middleware"):
            middleware.extend(module.middleware(settings))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.settings = settings
    return app


def __getattr__(name: str) -> Starlette:
    # ``tracker.web.app:app`` is built on first access so that importing this module
    # (tests, tools) does not read settings or touch ./var.
    if name == "app":
        return create_app()
    raise AttributeError(name)
