"""Rendering the HTML pages: the Jinja2 environment, its filters, and the page wrapper.

Every page handler runs through ``page(...)``: it loads the signed-in user in one database
transaction, checks the role, hands the handler a ``PageContext`` and sets the headers every
page with personal data needs (no caching, no framing).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from tracker import db, i18n, timefmt, validators
from tracker.models import Case, Organization, User
from tracker.presentation import FLAG_LABELS, humanise, zone_of
from tracker.rules import Flag
from tracker.services import Actor
from tracker.types import utcnow
from tracker.vocab import Role
from tracker.web import sessions
from tracker.web.sessions import SESSION_USER

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

SESSION_CSRF = "csrf"
SESSION_FLASH = "flash"
CSRF_FIELD = "csrf_token"

# Headers for every page: personal data must not linger in shared caches or be framed.
PAGE_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def clock(request: Request) -> datetime:
    """Now, from ``app.state.clock`` when a test travels in time, else the real clock."""
    now_fn: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return now_fn()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def flash(request: Request, message: str) -> None:
    """Queue ``message`` for the next page. Pass the English text (a marked msgid, formatted):
    the next page translates it into the language it is shown in (``tr`` filter)."""
    messages = list(request.session.get(SESSION_FLASH) or [])
    messages.append(message)
    request.session[SESSION_FLASH] = messages[-5:]


def _base_context(request: Request) -> dict[str, Any]:
    from tracker.web import health

    user: User | None = getattr(request.state, "user", None)
    session: Session | None = getattr(request.state, "db", None)
    now = clock(request)
    # Signed-in people only: the state of our processes is nobody else's business. In the
    # page's own transaction (a second one would wait on SQLite's write lock).
    warning = (
        health.clock_warning(session, now, health.own_clock(request)) if user and session else None
    )
    from tracker.permissions import PERMISSIONS
    from tracker.services import conversations

    return {
        # The navigation's unread count: one count over a partial index (issue 15).
        "inbox_unread": (
            conversations.unread_count(session, user.organization_id) if user and session else 0
        ),
        "lang": i18n.current(),
        "page_languages": [(code, i18n.language_name(code)) for code in i18n.LANGUAGES],
        # The permissions of the API's role policy this user holds: pages offer only those.
        "can": {name for name, roles in PERMISSIONS.items() if user and user.role in roles},
        "csrf_token": csrf_token(request),
        "current_user": user,
        "is_admin": user is not None and user.role is Role.admin,
        "flashes": request.session.pop(SESSION_FLASH, None) or [],
        "clock_warning": warning,
        "now": now,
    }


def _local(instant: datetime | None, zone: str) -> str:
    """``instant`` in ``zone``, its day and month names in the page's language."""
    return timefmt.local_label(instant, zone, i18n.current()) if instant else ""


def _relative(due: datetime, now: datetime) -> str:
    return i18n.translate_reason(timefmt.relative(due, now))


def _input_value(instant: datetime | None, zone: str) -> str:
    """A UTC instant as the value of an ``<input type=datetime-local>`` in ``zone``."""
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def _a_number(value: str | None) -> str:
    return validators.format_a_number(value) if value else ""


def _mask(value: str | None) -> str:
    return validators.mask_phone(value) if value else ""


def _pager(params: Mapping[str, str], cursor: str) -> str:
    """The current query string with ``cursor`` replaced (removed when empty)."""
    kept = [(k, v) for k, v in params.items() if k != "cursor"]
    return urlencode([*kept, ("cursor", cursor)] if cursor else kept)


def _label(value: object) -> str:
    """A key shown as words in the page's language (``custody_status`` values, roles, statuses;
    their msgids are marked in tracker.presentation.WORDS)."""
    return i18n.translate_reason(humanise(value))


def _make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # One translation per request: the callables read the language ``render`` activated.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    # {% trans %} blocks are whitespace-normalised, as extraction (i18n.OPTIONS_MAP) expects.
    env.policies["ext.i18n.trimmed"] = True
    env.filters.update(
        local=_local,
        input_value=_input_value,
        a_number=_a_number,
        mask=_mask,
        humanise=_label,
        tr=i18n.translate_reason,
        relative=_relative,
        pager=_pager,
    )
    env.globals.update(FLAG_LABELS=FLAG_LABELS)
    return env


templates = Jinja2Templates(env=_make_env(), context_processors=[_base_context])


def request_language(request: Request) -> str:
    """The signed-in user's language setting; before sign-in, the browser's Accept-Language."""
    user: User | None = getattr(request.state, "user", None)
    if user is not None:
        return i18n.page_language(user.language)
    return i18n.negotiate(request.headers.get("accept-language"))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    # The template renders right here (TemplateResponse renders on construction).
    with i18n.activate(request_language(request)):
        return templates.TemplateResponse(
            request,
            name,
            context or {},
            status_code=status_code,
            headers={**PAGE_HEADERS, "Content-Language": i18n.current()},
        )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=dict(PAGE_HEADERS))


def not_found(request: Request) -> Response:
    """Another organisation's record answers exactly like a missing one."""
    return render(request, "error.html", {"title": i18n.N_("Not found"), "status": 404}, 404)


def forbidden(
    request: Request, message: str = i18n.N_("You do not have access to this page.")
) -> Response:
    return render(request, "error.html", {"title": message, "status": 403}, 403)


@dataclass(frozen=True)
class Badge:
    kind: str
    label: str
    relative: str
    local: str
    overdue: bool
    rung: int | None


def badges(flags: Iterable[Flag], now: datetime, zone: str) -> list[Badge]:
    return [
        Badge(
            kind=f.kind.value,
            label=i18n.gettext(FLAG_LABELS.get(f.kind, humanise(f.kind))),
            relative=_relative(f.due_at, now),
            local=_local(f.due_at, zone),
            overdue=f.due_at < now,
            rung=f.rung,
        )
        for f in flags
    ]


@dataclass
class PageContext:
    request: Request
    db: Session
    user: User
    now: datetime
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return Actor(
            label=f"user:{self.user.id}",
            organization_id=self.user.organization_id,
            user_id=self.user.id,
            role=self.user.role,
        )

    @property
    def org(self) -> Organization:
        return self.user.organization

    @property
    def default_zone(self) -> str:
        """The deployment's zone, for times of an organisation that names none."""
        return str(self.request.app.state.settings.default_time_zone)

    def zone(self, case: Case) -> str:
        """The zone ``case``'s times are shown and entered in (tracker.presentation.zone_of)."""
        return zone_of(
            self.default_zone,
            facility=case.facility,
            field_office=case.field_office,
            organization=self.org,
        )

    def render(
        self, name: str, context: dict[str, Any] | None = None, status: int = 200
    ) -> Response:
        return render(self.request, name, context, status)

    def path_id(self, name: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.request.path_params[name]))
        except (KeyError, ValueError):
            return None

    def field(self, name: str) -> str:
        """A form field as text (``""`` when absent); files are never accepted."""
        if self.form is None:
            return ""
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]


Handler = Callable[[PageContext], Response]


def current_user(request: Request, session: Session) -> User | None:
    """The signed-in, still active user of this request, or None."""
    raw = request.session.get(SESSION_USER)
    if not isinstance(raw, str):
        return None
    try:
        user_id = uuid.UUID(raw)
    except ValueError:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active or not sessions.is_current(request, user, clock(request)):
        # Deactivation, sign-out elsewhere and timeouts take effect on the next request.
        request.session.clear()
        return None
    return user


def page(
    handler: Handler,
    roles: frozenset[Role] | None = None,
    *,
    pending_password: bool = False,
    read_only: bool = False,
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler`` as an endpoint: signed-in user, role check, one transaction.

    Only a ``pending_password`` page (the change-password page) serves a user who signed in
    with a one-time password and has not chosen a new one yet. A ``read_only`` page only reads
    (and appends audit rows): each statement commits on its own, so a slow one (a report) does
    not hold SQLite's write lock and make every other request's write wait behind it.
    """

    def run(request: Request, form: FormData | None) -> Response:
        with db.session_scope(db.get_read_sessionmaker() if read_only else None) as session:
            user = current_user(request, session)
            if user is None:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                if request.method != "GET":
                    target = "/"
                return redirect("/login?next=" + quote(target, safe="/"))
            request.state.user = user
            request.state.db = session
            if user.must_change_password and not pending_password:
                # Signed in with a one-time password: nothing else until a new one is chosen.
                return redirect("/password")
            if roles is not None and user.role not in roles:
                return forbidden(request)
            # Flashes and form errors built by the handler read the user's language too.
            with i18n.activate(request_language(request)):
                return handler(PageContext(request, session, user, clock(request), form))

    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=200)
        try:
            return await run_in_threadpool(run, request, form)
        finally:
            if form is not None:
                await form.close()

    endpoint.__name__ = handler.__name__
    return endpoint
