"""The lifecycle of a user's credentials: passwords, one-time passwords, API tokens.

Every change is audited in the caller's transaction; no password, hash or token ever enters
the audit trail (only that it changed).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import passwords
from tracker.i18n import N_
from tracker.models import ApiToken, User
from tracker.services import Actor, ServiceError, audit
from tracker.services.orgs import hash_password, new_password, verify_password


def end_sessions(user: User) -> None:
    """End every page session of ``user`` at once (the cookie carries the version)."""
    user.session_version = (user.session_version or 0) + 1


def _set_password(
    session: Session,
    actor: Actor,
    user: User,
    password: str,
    *,
    one_time: bool,
    now: datetime,
) -> None:
    """Store ``password`` (hashed), end every session and audit only that it changed.

    A one-time password is an admin's reset; any other is the user's own change."""
    if one_time:
        action, changed = "password_reset", [None, "one-time"]
    else:
        was = "one-time" if user.must_change_password else "set"
        action, changed = "password_change", [was, "changed"]
    user.password_hash = hash_password(password)
    user.must_change_password = one_time
    user.one_time_used_at = None
    user.updated_at = now
    end_sessions(user)
    audit.record(
        session,
        actor,
        action,
        "user",
        user.id,
        {"password": changed},
        organization_id=user.organization_id,
        now=now,
    )


def change_password(
    session: Session,
    actor: Actor,
    user: User,
    current: str,
    new: str,
    confirm: str,
    now: datetime,
) -> None:
    """Replace ``user``'s password; every other session ends. ServiceError names the field."""
    if not verify_password(user.password_hash, current):
        raise ServiceError(N_("the current password is not right"), {"current": N_("not right")})
    if new != confirm:
        raise ServiceError(N_("the two new passwords differ"), {"confirm": N_("does not match")})
    if new == current:
        raise ServiceError(
            N_("choose a password you have not used"), {"new": N_("same as the current")}
        )
    why = passwords.problem(new, [user.email, user.name])
    if why:
        raise ServiceError(N_("new password: {why}").format(why=why), {"new": why})
    _set_password(session, actor, user, new, one_time=False, now=now)


def reset_password(session: Session, actor: Actor, user: User, now: datetime) -> str:
    """Issue a new one-time password (returned, to be shown once) and end the user's sessions."""
    password = new_password()
    _set_password(session, actor, user, password, one_time=True, now=now)
    return password


def tokens_of_org(session: Session, organization_id: uuid.UUID) -> list[ApiToken]:
    """The organisation's API tokens, newest first (revoked ones included, for the record)."""
    return list(
        session.scalars(
            select(ApiToken)
            .join(User, ApiToken.user_id == User.id)
            .where(User.organization_id == organization_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def revoke_token(session: Session, actor: Actor, token: ApiToken, now: datetime) -> bool:
    """Revoke one token; False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    audit.record(
        session,
        actor,
        "revoke",
        "api_token",
        token.id,
        {"label": [token.label, token.label], "revoked_at": [None, now.isoformat()]},
        organization_id=token.user.organization_id,
        now=now,
    )
    return True


def revoke_tokens(session: Session, actor: Actor, user: User, now: datetime) -> int:
    """Revoke every live token of ``user``; returns how many."""
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    return sum(revoke_token(session, actor, token, now) for token in list(live))
