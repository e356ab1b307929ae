"""The life of a page session: who, which version of them, since when, last seen when.

The signed cookie (Starlette's ``SessionMiddleware``) holds the user id, the user's
``session_version`` at sign-in, and two instants. A session ends when:

- the user's ``session_version`` has moved on — sign-out, a password change or reset, a role
  change or deactivation bump it, so that every session of that user, on every device, ends
  at once (``tracker.services.users.end_sessions``);
- it has been idle longer than ``SESSION_IDLE_MINUTES``;
- it is older than ``SESSION_MAX_HOURS``, however active.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from tracker.models import User
from tracker.settings import Settings, get_settings

SESSION_USER = "uid"
SESSION_VERSION = "sv"
SESSION_STARTED = "iat"
SESSION_SEEN = "seen"
# The last-seen instant is rewritten at most this often (it re-signs the cookie).
SEEN_RESOLUTION = timedelta(seconds=30)


def settings_of(request: Request) -> Settings:
    settings: Settings | None = getattr(request.app.state, "settings", None)
    return settings or get_settings()


def _instant(raw: object) -> datetime | None:
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return None
    try:
        return datetime.fromtimestamp(raw, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def start(request: Request, user: User, now: datetime) -> None:
    """A fresh session for ``user``: nothing from before survives (fixation)."""
    request.session.clear()
    request.session[SESSION_USER] = str(user.id)
    request.session[SESSION_VERSION] = user.session_version
    request.session[SESSION_STARTED] = int(now.timestamp())
    request.session[SESSION_SEEN] = int(now.timestamp())


def renew(request: Request, user: User) -> None:
    """Keep this session after the user's version moved (their own password change)."""
    request.session[SESSION_VERSION] = user.session_version


def is_current(request: Request, user: User, now: datetime) -> bool:
    """True if the session may go on; records the activity."""
    settings = settings_of(request)
    version = request.session.get(SESSION_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        return False
    if version != user.session_version:
        return False
    started = _instant(request.session.get(SESSION_STARTED))
    seen = _instant(request.session.get(SESSION_SEEN))
    if started is None or seen is None:
        return False
    if now - started > timedelta(hours=settings.session_max_hours):
        return False
    if now - seen > timedelta(minutes=settings.session_idle_minutes):
        return False
    if now - seen >= SEEN_RESOLUTION:
        request.session[SESSION_SEEN] = int(now.timestamp())
    return True
