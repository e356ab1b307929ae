"""Calendar feeds: ``/calendar/{token}.ics`` (a plain route, keyed by its secret token) and the
operations ``GET /api/me/calendar`` and ``POST /api/me/calendar/rotate`` (in ``api.OPERATIONS``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tracker import calendar
from tracker.db import get_read_sessionmaker, session_scope
from tracker.models import User
from tracker.types import utcnow
from tracker.web.api_routing import Context
from tracker.web.errors import ApiError


class CalendarUrlOut(BaseModel):
    url: str = Field(description="the secret URL of your calendar feed (iCalendar)")


def feed(request: Request) -> Response:
    # A sync endpoint: Starlette runs it in the threadpool, off the event loop.
    token = str(request.path_params["token"])
    now = utcnow()
    # Only reads (and appends the audit row): no transaction holding SQLite's write lock.
    with session_scope(get_read_sessionmaker()) as session:
        user = calendar.user_for_token(session, token)
        if user is None:
            # Unknown, rotated and deactivated alike: nothing tells them apart.
            return PlainTextResponse("Not Found", status_code=404)
        body = calendar.feed_for(session, user, now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="amparo.ics"',
            "Referrer-Policy": "no-referrer",
        },
    )


def _user(ctx: Context) -> User:
    user = ctx.session.get(User, ctx.actor.user_id)
    if user is None:  # the token's user: present unless deleted this very moment
        raise ApiError(401, "unauthorized", "the user of this token no longer exists")
    return user


def my_calendar(ctx: Context) -> CalendarUrlOut:
    return CalendarUrlOut(url=calendar.current_url(ctx.session, ctx.actor, _user(ctx), ctx.now))


def rotate_calendar(ctx: Context) -> CalendarUrlOut:
    return CalendarUrlOut(url=calendar.rotate(ctx.session, ctx.actor, _user(ctx), ctx.now))
