"""``GET /admin/health``: the checks of ``amparo doctor`` for an organisation's administrator.

The checks call Twilio and this deployment's own ``/healthz``, so they run outside any
database transaction (a page's transaction would hold SQLite's write lock while ``/healthz``
waits for it), and only after a short one has confirmed the visitor is an administrator:
nobody else can make this server call Twilio.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tracker import db, doctor
from tracker.i18n import N_
from tracker.services import audit
from tracker.settings import Settings
from tracker.vocab import Role
from tracker.web.pages_render import PageContext, clock, current_user, page

ADMIN = frozenset({Role.admin})


def _is_admin(request: Request) -> bool:
    with db.session_scope() as session:
        user = current_user(request, session)
        return user is not None and user.active and user.role is Role.admin


async def admin_health(request: Request) -> Response:
    results: list[doctor.Result] = []
    if await run_in_threadpool(_is_admin, request):
        settings: Settings = request.app.state.settings
        # The tests' loopback stand-ins plug in here; production uses the network.
        transport = getattr(request.app.state, "doctor_transport", None)
        results = await run_in_threadpool(doctor.run_checks, settings, clock(request), transport)

    def show(ctx: PageContext) -> Response:
        audit.record(ctx.db, ctx.actor, "read", "health", None, now=ctx.now)
        return ctx.render(
            "admin/health.html",
            {
                "title": N_("Deployment health"),
                "results": results,
                "failed": doctor.failed(results),
            },
            status=200,
        )

    # page() signs in, checks the role and renders (a redirect or 403 for others).
    return await page(show, ADMIN)(request)
