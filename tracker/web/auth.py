"""Signing in and out of the pages: sessions, CSRF, throttling of failed logins, passwords.

- Sessions: Starlette's ``SessionMiddleware`` (itsdangerous-signed cookie, ``HttpOnly``,
  ``SameSite=Lax``, ``Secure`` when ``BASE_URL`` is https). The cookie holds the user id, the
  user's session version, two instants and the CSRF token; ``tracker.web.sessions`` ends it
  on sign-out (everywhere), password change, role change, deactivation, idleness or age.
- CSRF: every unsafe request that carries our session cookie (and every login attempt) must
  carry the session's token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header;
  checked once, here, in ``CSRFMiddleware``, so that no form can forget it. The JSON API
  (``/api/``) authenticates by bearer token only and is not subject to it.
- Throttling: failed logins are recorded (blind-indexed, never the address in clear) per
  (e-mail, client address) and per client address. Past a limit within the window that
  address gets 429 with ``Retry-After``; the same account from another address is never
  refused, so an attacker cannot lock the real user out. The client address is the TCP peer,
  or ``X-Forwarded-For`` when the peer is a trusted proxy (``FORWARDED_ALLOW_IPS``).
- Passwords: a one-time password signs in once and leads straight to ``/password``, which
  every other page redirects to until a new password (``tracker.passwords``) is chosen.
"""

from __future__ import annotations

import hmac
import logging
import math
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker import crypto, db, i18n
from tracker.i18n import N_
from tracker.models import LoginFailure, User
from tracker.services import Actor, ServiceError, audit
from tracker.services.orgs import hash_password, verify_password
from tracker.services.users import change_password, end_sessions
from tracker.web import sessions
from tracker.web.pages_render import (
    CSRF_FIELD,
    SESSION_CSRF,
    PageContext,
    clock,
    csrf_token,
    current_user,
    flash,
    page,
    redirect,
    render,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "amparo_session"
THROTTLE_WINDOW = timedelta(minutes=15)
# Failures of one account from one address: the guesser is slowed, the owner elsewhere is not.
PAIR_LIMIT = 5
# Any accounts from one address (password spraying). Higher: a whole hotline office may sit
# behind one NAT address. It blocks that address only, never the accounts.
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


def _csrf_failure(scope: Scope) -> HTMLResponse:
    # No user is loaded here (the check runs before any page): the browser's language decides.
    with i18n.activate(i18n.negotiate(Headers(scope=scope).get("accept-language"))) as lang:
        title, heading, advice = (
            escape(i18n.gettext(N_("Form expired"))),
            escape(i18n.gettext(N_("This form has expired"))),
            escape(i18n.gettext(N_("Go back, reload the page and submit again."))),
        )
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><title>{title}</title><h1>{heading}</h1>'
        f"<p>{advice}</p>",
        status_code=403,
        headers={"Content-Language": lang},
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
            await _csrf_failure(scope)(scope, receive, send)
            return
        await self.app(scope, replay(), send)


# --- throttling ---------------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The client's address: the peer, or whom a trusted proxy says it forwards for."""
    return request.client.host if request.client else "unknown"


def pair_key(email: str, address: str) -> str:
    return crypto.blind_index("login-pair", crypto.fold(email) + "\n" + address)


def address_key(address: str) -> str:
    return crypto.blind_index("login-address", address)


def _retry_after(session: Session, key: str, limit: int, now: datetime) -> int | None:
    """Seconds until ``key`` has fewer than ``limit`` failures in the window; None if it has."""
    recent = session.scalars(
        select(LoginFailure.at)
        .where(LoginFailure.key_hash == key, LoginFailure.at >= now - THROTTLE_WINDOW)
        .order_by(LoginFailure.at.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return None
    return max(1, math.ceil((recent[-1] + THROTTLE_WINDOW - now).total_seconds()))


def throttled_for(session: Session, email: str, address: str, now: datetime) -> int | None:
    """Seconds this address must wait before trying ``email`` again, or None."""
    waits = [
        _retry_after(session, pair_key(email, address), PAIR_LIMIT, now),
        _retry_after(session, address_key(address), ADDRESS_LIMIT, now),
    ]
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def record_failure(session: Session, email: str, address: str, now: datetime) -> None:
    keys = [pair_key(email, address), address_key(address)]
    # Pruning the keys' old rows here keeps the table small without a separate job.
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.key_hash.in_(keys), LoginFailure.at < now - THROTTLE_WINDOW
        )
    )
    for key in keys:
        session.add(LoginFailure(key_hash=key, at=now))


def _throttled_page(request: Request, email: str, wait: int, next_url: str) -> Response:
    log.warning("login throttled")
    minutes = max(1, math.ceil(wait / 60))
    response = _login_page(
        request,
        email,
        N_(
            "Too many failed sign-in attempts from this network. Wait {minutes} minutes and "
            "try again, or ask your administrator to reset your password."
        ).format(minutes=minutes),
        429,
        next_url,
    )
    response.headers["Retry-After"] = str(wait)
    return response


# --- pages --------------------------------------------------------------------------------


def _safe_next(raw: str | None) -> str:
    """Only a local path: never redirect a fresh login to another site."""
    if not raw:
        return "/"
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. "//[": not a URL at all
        return "/"
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
        {"email": email, "error": error, "next": next_url, "title": N_("Sign in")},
        status,
    )


def login_form(request: Request) -> Response:
    csrf_token(request)
    with db.session_scope() as session:
        if current_user(request, session) is not None:
            return redirect(_safe_next(request.query_params.get("next")))
    return _login_page(request, next_url=_safe_next(request.query_params.get("next")))


def _actor(user: User) -> Actor:
    return Actor(
        label=f"user:{user.id}",
        organization_id=user.organization_id,
        user_id=user.id,
        role=user.role,
    )


def _attempt(request: Request, email: str, password: str, next_url: str) -> Response:
    now = clock(request)
    address = client_address(request)
    with db.session_scope() as session:
        wait = throttled_for(session, email, address, now)
        if wait is not None:
            return _throttled_page(request, email, wait, next_url)
        user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not valid or not user.active:
            record_failure(session, email, address, now)
            log.info("login failed")
            return _login_page(request, email, N_("Wrong e-mail or password."), 401, next_url)
        if user.must_change_password and user.one_time_used_at is not None:
            # Told only to whoever knows the password: it reveals nothing to a guesser.
            log.info("login with a used one-time password")
            return _login_page(
                request,
                email,
                N_(
                    "This one-time password has already been used. "
                    "Ask your administrator for a new one."
                ),
                401,
                next_url,
            )
        session.execute(
            delete(LoginFailure).where(LoginFailure.key_hash == pair_key(email, address))
        )
        user.last_login_at = now
        via: dict[str, Any] = {"via": [None, "web"]}
        if user.must_change_password:
            user.one_time_used_at = now
            via["password"] = [None, "one-time, change required"]
        audit.record(session, _actor(user), "login", "user", user.id, via, now=now)
        sessions.start(request, user, now)
        target = "/password" if user.must_change_password else next_url
    csrf_token(request)
    return redirect(target)


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    email = form.get("email")
    password = form.get("password")
    next_url = _safe_next(str(form.get("next") or "/"))
    await form.close()
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    if not email or not password or len(email) > 320 or len(password) > 1024:
        return _login_page(
            request, email[:320], N_("Enter your e-mail and password."), 422, next_url
        )
    return await run_in_threadpool(_attempt, request, email, password, next_url)


def _logout(request: Request) -> None:
    now = clock(request)
    with db.session_scope() as session:
        user = current_user(request, session)
        if user is not None:
            # Signing out here signs out everywhere: a session left open on a shared
            # office computer ends with the one on the phone.
            end_sessions(user)
            audit.record(session, _actor(user), "logout", "user", user.id, now=now)


async def logout(request: Request) -> Response:
    await run_in_threadpool(_logout, request)
    request.session.clear()
    return redirect("/login")


# --- changing one's password --------------------------------------------------------------


def _password_page(
    ctx: PageContext, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    return ctx.render(
        "password.html",
        {
            "title": N_("Change password"),
            "forced": ctx.user.must_change_password,
            "errors": errors or {},
        },
        status,
    )


def password_form(ctx: PageContext) -> Response:
    return _password_page(ctx)


def _raw(ctx: PageContext, name: str) -> str:
    # Not ``ctx.field``: a password's spaces are part of it.
    value = ctx.form.get(name) if ctx.form is not None else None
    return value if isinstance(value, str) else ""


def password_submit(ctx: PageContext) -> Response:
    current, new, confirm = _raw(ctx, "current"), _raw(ctx, "new"), _raw(ctx, "confirm")
    if not current or not new or len(current) > 1024 or len(new) > 1024:
        return _password_page(ctx, {"form": N_("fill in every field")}, 422)
    address = client_address(ctx.request)
    # Guessing the current password from a stolen session is throttled like the sign-in.
    wait = throttled_for(ctx.db, ctx.user.email, address, ctx.now)
    if wait is not None:
        response = _password_page(ctx, {"current": N_("too many wrong attempts; wait")}, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        change_password(ctx.db, ctx.actor, ctx.user, current, new, confirm, ctx.now)
    except ServiceError as exc:
        if "current" in exc.fields:
            record_failure(ctx.db, ctx.user.email, address, ctx.now)
        return _password_page(ctx, exc.fields or {"form": exc.message}, 422)
    # Every other session of this user has ended; this one goes on.
    sessions.renew(ctx.request, ctx.user)
    flash(ctx.request, N_("Password changed. You were signed out everywhere else."))
    return redirect("/")


def language_submit(ctx: PageContext) -> Response:
    """One's own page language (also the language of the SMS Amparo sends to this user)."""
    raw = ctx.field("language")
    if i18n.supported(raw) != raw:
        errors = {
            "language": N_("one of {choices}").format(choices=", ".join(i18n.LANGUAGES)),
        }
        return _password_page(ctx, errors, 422)
    if i18n.page_language(ctx.user.language) != raw:
        changes = audit.diff({"language": ctx.user.language}, {"language": raw})
        ctx.user.language = raw
        ctx.user.updated_at = ctx.now
        audit.record(ctx.db, ctx.actor, "update", "user", ctx.user.id, changes, now=ctx.now)
    # This request already speaks the old language: the flash is translated when shown.
    flash(ctx.request, N_("Language saved."))
    return redirect("/password")


routes: list[BaseRoute] = [
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/password", page(password_form, pending_password=True), methods=["GET"]),
    Route("/password", page(password_submit, pending_password=True), methods=["POST"]),
    Route("/language", page(language_submit), methods=["POST"]),
]
