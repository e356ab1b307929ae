"""Signing in and out of the pages: sessions, CSRF, throttling of failed logins.

- Sessions: Starlette's ``SessionMiddleware`` (itsdangerous-signed cookie, ``HttpOnly``,
  ``SameSite=Lax``, ``Secure`` when ``BASE_URL`` is https). The cookie holds only the user id
  and the CSRF token; a deactivated user is signed out on the next request.
- CSRF: every unsafe request that carries our session cookie (and every login attempt) must
  carry the session's token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header;
  checked once, here, in ``CSRFMiddleware``, so that no form can forget it. The JSON API
  (``/api/``) authenticates by bearer token only and is not subject to it.
- Throttling: failed logins are recorded (blind-indexed, never the address in clear) per
  e-mail and per client address; past the limit within the window the answer is 429.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker import crypto, db
from tracker.models import LoginFailure, User
from tracker.services import Actor, audit
from tracker.services.orgs import hash_password, verify_password
from tracker.settings import Settings
from tracker.web.pages_render import (
    CSRF_FIELD,
    SESSION_CSRF,
    SESSION_USER,
    clock,
    csrf_token,
    current_user,
    redirect,
    render,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "amparo_session"
# A volunteer's shift, not a fortnight: a lost phone should not stay signed in for long.
SESSION_MAX_AGE = 12 * 3600
THROTTLE_WINDOW = timedelta(minutes=15)
EMAIL_LIMIT = 5
# Higher per address: a whole hotline office may sit behind one NAT address.
ADDRESS_LIMIT = 20
CSRF_HEADER = "x-csrf-token"
CSRF_EXEMPT_PREFIXES = ("/api/",)
MAX_FORM_BYTES = 1_000_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Verified against when the e-mail is unknown, so that timing does not reveal which e-mails exist.
_DUMMY_HASH = hash_password("not-a-real-password-only-for-constant-time-misses")


def _has_session_cookie(scope: Scope) -> bool:
    cookie = Headers(scope=scope).get("cookie", "")
    return f"{SESSION_COOKIE}=" in cookie


def _csrf_applies(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if scope.get("method", "GET") in SAFE_METHODS:
        return False
    if path.startswith(CSRF_EXEMPT_PREFIXES):
        return False
    # The decoded session decides, not the header's spelling ("amparo_session =…" decodes too).
    return path == "/login" or bool(scope.get("session")) or _has_session_cookie(scope)


def _csrf_failure() -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Form expired</title><h1>This form has expired</h1>"
        "<p>Go back, reload the page and submit again.</p>",
        status_code=403,
    )


class CSRFMiddleware:
    """Reject an unsafe request whose CSRF token does not match the session's (403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _csrf_applies(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                await HTMLResponse("Request too large", status_code=413)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        def replay() -> Receive:
            sent = False

            async def _receive() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return _receive

        session: dict[str, Any] = scope.get("session") or {}
        expected = session.get(SESSION_CSRF)
        supplied: object = Headers(scope=scope).get(CSRF_HEADER)
        if not supplied:
            # A copy of the scope: parsing here must not leave a cached form behind.
            probe = Request(dict(scope), replay())
            try:
                form = await probe.form(max_files=0, max_fields=200)
            except Exception:  # a malformed body is simply not a valid token
                supplied = None
            else:
                supplied = form.get(CSRF_FIELD)
                await form.close()
        if (
            not isinstance(expected, str)
            or not isinstance(supplied, str)
            or not hmac.compare_digest(expected.encode(), supplied.encode())
        ):
            await _csrf_failure()(scope, receive, send)
            return
        await self.app(scope, replay(), send)


def middleware(settings: Settings) -> Sequence[Middleware]:
    # Order matters: the session is decoded before the CSRF check reads its token.
    return [
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="lax",
            https_only=settings.https,
        ),
        Middleware(CSRFMiddleware),
    ]


# --- throttling ---------------------------------------------------------------------------


def _email_key(email: str) -> str:
    return crypto.blind_index("login-email", crypto.fold(email))


def _address_key(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return crypto.blind_index("login-address", host)


def _failures_since(session: Session, key: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key_hash == key, LoginFailure.at >= since)
    )
    return int(count or 0)


def is_throttled(session: Session, email_key: str, address_key: str, now: datetime) -> bool:
    since = now - THROTTLE_WINDOW
    return (
        _failures_since(session, email_key, since) >= EMAIL_LIMIT
        or _failures_since(session, address_key, since) >= ADDRESS_LIMIT
    )


def record_failure(session: Session, keys: Sequence[str], now: datetime) -> None:
    # Pruning the keys' old rows here keeps the table small without a separate job.
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.key_hash.in_(keys), LoginFailure.at < now - THROTTLE_WINDOW
        )
    )
    for key in keys:
        session.add(LoginFailure(key_hash=key, at=now))


# --- pages --------------------------------------------------------------------------------


def _safe_next(raw: str | None) -> str:
    """Only a local path: never redirect a fresh login to another site."""
    if not raw:
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if "\\" in raw:
        return "/"
    return raw


def _login_page(
    request: Request, email: str = "", error: str = "", status: int = 200, next_url: str = "/"
) -> Response:
    return render(
        request,
        "login.html",
        {"email": email, "error": error, "next": next_url, "title": "Sign in"},
        status,
    )


def login_form(request: Request) -> Response:
    csrf_token(request)
    with db.session_scope() as session:
        if current_user(request, session) is not None:
            return redirect(_safe_next(request.query_params.get("next")))
    return _login_page(request, next_url=_safe_next(request.query_params.get("next")))


def _attempt(request: Request, email: str, password: str, next_url: str) -> Response:
    now = clock(request)
    email_key, address_key = _email_key(email), _address_key(request)
    with db.session_scope() as session:
        if is_throttled(session, email_key, address_key, now):
            log.warning("login throttled")
            response = _login_page(
                request,
                email,
                "Too many failed sign-in attempts. Wait 15 minutes and try again, "
                "or ask your administrator to reset your password.",
                429,
                next_url,
            )
            response.headers["Retry-After"] = str(int(THROTTLE_WINDOW.total_seconds()))
            return response
        user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not valid or not user.active:
            record_failure(session, [email_key, address_key], now)
            log.info("login failed")
            return _login_page(request, email, "Wrong e-mail or password.", 401, next_url)
        session.execute(delete(LoginFailure).where(LoginFailure.key_hash == email_key))
        user.last_login_at = now
        audit.record(
            session,
            Actor(
                label=f"user:{user.id}",
                organization_id=user.organization_id,
                user_id=user.id,
                role=user.role,
            ),
            "login",
            "user",
            user.id,
            {"via": [None, "web"]},
            now=now,
        )
        user_id = str(user.id)
    # A fresh session on every login: nothing from before survives (fixation).
    request.session.clear()
    request.session[SESSION_USER] = user_id
    csrf_token(request)
    return redirect(next_url)


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    email = form.get("email")
    password = form.get("password")
    next_url = _safe_next(str(form.get("next") or "/"))
    await form.close()
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    if not email or not password or len(email) > 320 or len(password) > 1024:
        return _login_page(request, email[:320], "Enter your e-mail and password.", 422, next_url)
    return await run_in_threadpool(_attempt, request, email, password, next_url)


def logout(request: Request) -> Response:
    request.session.clear()
    return redirect("/login")


routes: list[BaseRoute] = [
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
