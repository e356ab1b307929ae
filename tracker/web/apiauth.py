"""Bearer-token authentication and the role policy of the JSON API.

Use from any route::

    from tracker.web.apiauth import require_actor, authenticate

    actor = require_actor(request, roles=ROLES_READ)       # opens its own short session
    with session_scope() as session:
        actor = authenticate(session, request, "case.write")  # inside your transaction

Both raise ``ApiError`` (401 without, with an unknown or revoked token, or for an inactive user;
403 when the role is not allowed), which the app answers in the error shape. ``roles`` is a
set of ``Role`` or the name of a permission of ``PERMISSIONS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload
from starlette.requests import Request

from tracker import facts
from tracker.db import session_scope
from tracker.models import ApiToken, Organization, User
from tracker.permissions import ALL_ROLES, PERMISSIONS
from tracker.services import Actor
from tracker.services.orgs import token_digest
from tracker.types import utcnow
from tracker.vocab import Role
from tracker.web.errors import ApiError

# A token's last use is recorded at most this often: a write on every read would serialise
# the readers on SQLite and add a row version per request on PostgreSQL.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="amparo"'}


# The token with its user and organisation (joined), without decrypting the user's name and
# phone or the organisation's on-call phone on every request: nothing here reads them, and
# whoever does later loads them then. Built once.
_TOKEN_LOOKUP = (
    select(ApiToken)
    .where(ApiToken.token_hash == bindparam("digest"))
    .options(
        joinedload(ApiToken.user).defer(User.name).defer(User.phone),
        joinedload(ApiToken.user).joinedload(User.organization).defer(Organization.oncall_phone),
    )
)


# The same lookup as plain columns (``objects=False``: the read-only operations and intake): no
# ORM objects for the token, its user and organisation (hydrating them was a fifth of the CPU
# of a case read), and of the organisation only the thresholds the rules read.
_TOKEN_ROW = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.email,
        User.role,
        User.active,
        User.organization_id,
        Organization.alert_ladder_hours,
        Organization.unanswered_days,
        Organization.default_unanswered_days,
        Organization.whereabouts_hours,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Organization, Organization.id == User.organization_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
_TOUCH = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_UNAUTHORIZED_HEADERS)


def allowed_roles(roles: Collection[Role] | str | None) -> frozenset[Role]:
    if roles is None:
        return ALL_ROLES
    if isinstance(roles, str):
        return PERMISSIONS[roles]
    return frozenset(roles)


def check_role(actor: Actor, roles: Collection[Role] | str | None) -> None:
    """403 unless the actor's role is among ``roles`` (a set or a permission name)."""
    allowed = allowed_roles(roles)
    if actor.role not in allowed:
        raise ApiError(
            403,
            "forbidden",
            f"your role ({actor.role.value if actor.role else 'none'}) may not do this",
            {"role": "one of " + ", ".join(sorted(r.value for r in allowed))},
        )


def authenticate(
    session: Session,
    request: Request,
    roles: Collection[Role] | str | None = None,
    now: datetime | None = None,
    *,
    objects: bool = True,
) -> Actor:
    """The actor of the request's bearer token, checked against ``roles``, in ``session``.

    ``objects=False`` (``Operation.read_only`` or ``plain_auth``): the same checks from plain
    columns; the user and organisation are then not in the session, and the organisation's
    thresholds are ``facts.organization_policy``'s without a query."""
    token = bearer_token(request)
    if token is None:
        raise _unauthorized("send Authorization: Bearer <token> (amparo token create)")
    if len(token) > 200:
        raise _unauthorized("the token is not valid")
    if not objects:
        return _authenticate_row(session, request, roles, now or utcnow(), token_digest(token))
    row = session.scalar(_TOKEN_LOOKUP, {"digest": token_digest(token)})
    if row is None or row.revoked_at is not None:
        raise _unauthorized("the token is not valid or has been revoked")
    user = row.user
    if not user.active:
        raise _unauthorized("the user of this token is deactivated")
    now = now or utcnow()
    if _stale(row.last_used_at, now):
        row.last_used_at = now
        session.flush()
    actor = _admit(request, roles, user.email, user.organization_id, user.id, user.role)
    # Held for the request: the session's identity map keeps objects only while referenced,
    # and the user's organisation (joined with it) is what the policy and intake read next —
    # without this, they would SELECT it again.
    session.info["actor_user"] = user
    return actor


def _stale(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether the token's ``last_used_at`` is due to be written again."""
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


def _admit(
    request: Request,
    roles: Collection[Role] | str | None,
    email: str,
    organization_id: uuid.UUID | None,
    user_id: uuid.UUID,
    role: Role,
) -> Actor:
    """The token's actor, checked against ``roles`` and kept on the request."""
    actor = Actor(label=email[:64], organization_id=organization_id, user_id=user_id, role=role)
    check_role(actor, roles)
    request.state.actor = actor
    return actor


def _authenticate_row(
    session: Session,
    request: Request,
    roles: Collection[Role] | str | None,
    now: datetime,
    digest: str,
) -> Actor:
    conn = session.connection()
    row = conn.execute(_TOKEN_ROW, {"digest": digest}).one_or_none()
    if row is None or row.revoked_at is not None:
        raise _unauthorized("the token is not valid or has been revoked")
    if not row.active:
        raise _unauthorized("the user of this token is deactivated")
    if _stale(row.last_used_at, now):
        conn.execute(_TOUCH, {"token_id": row.id, "now": now})
    actor = _admit(request, roles, row.email, row.organization_id, row.user_id, row.role)
    if row.organization_id is not None:
        facts.remember_policy(session, row.organization_id, facts.policy_for(cast(Any, row)))
    return actor


def require_actor(
    request: Request,
    roles: Collection[Role] | str | None = None,
    now: datetime | None = None,
) -> Actor:
    """As ``authenticate``, in a short transaction of its own (for routes with no session yet)."""
    with session_scope() as session:
        return authenticate(session, request, roles, now)
