"""The server-rendered pages: one registry entry for all of them (``ROUTE_MODULES``).

The pages live in ``pages_queue`` (home), ``pages_case`` (intake and case page) and
``pages_admin``; sign-in, sessions and CSRF are ``tracker.web.auth``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from tracker.web import auth, pages_admin, pages_case, pages_queue
from tracker.web.pages_render import STATIC_DIR

routes: list[BaseRoute] = [
    *auth.routes,
    *pages_queue.routes,
    *pages_case.routes,
    *pages_admin.routes,
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]

middleware = auth.middleware
