"""``GET /outbox``: the organisation's SMS that need a person — failed, undelivered, unreachable."""

from __future__ import annotations

from starlette.responses import Response

from notifications.followup import follow_up
from tracker.i18n import N_
from tracker.services import audit
from tracker.web.pages_render import PageContext, render


def outbox_page(ctx: PageContext) -> Response:
    org = ctx.user.organization
    data = follow_up(ctx.db, ctx.user.organization_id)
    audit.record(ctx.db, ctx.actor, "read", "outbox", ctx.user.organization_id, now=ctx.now)
    return render(
        ctx.request,
        "outbox/outbox.html",
        {
            "title": N_("SMS follow-up"),
            "data": data,
            "zone": ctx.user.time_zone or org.time_zone,
            "now": ctx.now,
        },
    )
