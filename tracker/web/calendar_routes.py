"""Calendar feeds: ``/calendar/{token}.ics``, ``GET /api/me/calendar``, ``POST .../rotate``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tracker import calendar
from tracker.db import session_scope
from tracker.models import User
from tracker.types import utcnow
from tracker.web.apiauth import authenticate
from tracker.web.errors import ApiError


async def feed(request: Request) -> Response:
    token = str(request.path_params["token"])
    now = utcnow()
    with session_scope() as session:
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


async def my_calendar(request: Request) -> JSONResponse:
    now = utcnow()
    with session_scope() as session:
        actor = authenticate(session, request, now=now)
        user = session.get(User, actor.user_id)
        if user is None:  # the token's user: present unless deleted this very moment
            raise ApiError(401, "unauthorized", "the user of this token no longer exists")
        url = calendar.current_url(session, actor, user, now)
    return JSONResponse({"url": url}, headers={"Cache-Control": "no-store"})


async def rotate_calendar(request: Request) -> JSONResponse:
    now = utcnow()
    with session_scope() as session:
        actor = authenticate(session, request, now=now)
        user = session.get(User, actor.user_id)
        if user is None:
            raise ApiError(401, "unauthorized", "the user of this token no longer exists")
        url = calendar.rotate(session, actor, user, now)
    return JSONResponse({"url": url}, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    Route("/calendar/{token}.ics", feed, methods=["GET"]),
    Route("/api/me/calendar", my_calendar, methods=["GET"]),
    Route("/api/me/calendar/rotate", rotate_calendar, methods=["POST"]),
]
