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
from tracker.models import ApiToken, User
from tracker.services import Actor, ServiceError, audit
from tracker.services.orgs import hash_password, new_password, verify_password


def end_sessions(user: User) -> None:
    """End every page session of ``user`` at once (the cookie carries the version)."""
    user.session_version = (user.session_version or 0) + 1


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
        raise ServiceError("the current password is not right", {"current": "not right"})
    if new != confirm:
        raise ServiceError("the two new passwords differ", {"confirm": "does not match"})
    if new == current:
        raise ServiceError("choose a password you have not used", {"new": "same as the current"})
    why = passwords.problem(new, [user.email, user.name])
    if why:
        raise ServiceError(f"new password: {why}", {"new": why})
    was_one_time = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.one_time_used_at = None
    user.updated_at = now
    end_sessions(user)
    audit.record(
        session,
        actor,
        "password_change",
        "user",
        user.id,
        {"password": ["one-time" if was_one_time else "set", "changed"]},
        organization_id=user.organization_id,
        now=now,
    )


def reset_password(session: Session, actor: Actor, user: User, now: datetime) -> str:
    """Issue a new one-time password (returned, to be shown once) and end the user's sessions."""
    password = new_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.one_time_used_at = None
    user.updated_at = now
    end_sessions(user)
    audit.record(
        session,
        actor,
        "password_reset",
        "user",
        user.id,
        {"password": [None, "one-time"]},
        organization_id=user.organization_id,
        now=now,
    )
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
