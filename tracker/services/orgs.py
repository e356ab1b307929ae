"""Organisations, users and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import validators
from tracker.i18n import N_
from tracker.models import ApiToken, Organization, User
from tracker.schemas import UserCreate
from tracker.services import Actor, ServiceError, audit

_hasher = PasswordHasher()

# The one answer for an e-mail that cannot be invited here (issue 10, item 12).
UNAVAILABLE_EMAIL = "this address cannot be invited; ask the person for another e-mail address"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    # Tokens are 256-bit random: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


def find_org(session: Session, ref: str) -> Organization | None:
    """An organisation by id (as printed by ``org create``) or by exact name."""
    try:
        org = session.get(Organization, uuid.UUID(ref))
        if org is not None:
            return org
    except ValueError:
        pass
    return session.scalar(select(Organization).where(Organization.name == ref))


def create_org(session: Session, actor: Actor, name: str, now: datetime) -> Organization:
    name = name.strip()
    if not name:
        raise ServiceError(N_("an organisation needs a name"), {"name": N_("required")})
    if session.scalar(select(Organization).where(Organization.name == name)):
        raise ServiceError(
            N_("an organisation with that name exists"), {"name": N_("already taken")}
        )
    org = Organization(id=uuid.uuid4(), name=name, created_at=now, updated_at=now)
    audit.created(
        session, actor, org, "organization", {"name": [None, name]}, organization_id=org.id, now=now
    )
    return org


def create_user(
    session: Session,
    actor: Actor,
    org: Organization,
    data: UserCreate,
    now: datetime,
    password: str | None = None,
) -> tuple[User, str]:
    """Create a user; returns the user and the password, shown once.

    Without ``password`` a one-time password is generated: it signs in once, and that
    sign-in must choose a new password before anything else.
    """
    existing = session.scalar(select(User).where(func.lower(User.email) == data.email.lower()))
    if existing is not None:
        if existing.organization_id == org.id:
            raise ServiceError(
                N_("a user with that e-mail exists"), {"email": N_("already registered")}
            )
        # Registered with another organisation: say nothing that tells which, or that it is.
        raise ServiceError(UNAVAILABLE_EMAIL, {"email": UNAVAILABLE_EMAIL})
    one_time = password is None
    password = password or new_password()
    user = User(
        id=uuid.uuid4(),
        organization_id=org.id,
        email=data.email.lower(),
        name=data.name,
        password_hash=hash_password(password),
        role=data.role,
        phone=data.phone,
        phone_hash=validators.phone_hash(data.phone) if data.phone else None,
        language=data.language,
        active=True,
        must_change_password=one_time,
        created_at=now,
        updated_at=now,
    )
    changes = {"email": [None, user.email], "role": [None, user.role.value]}
    audit.created(session, actor, user, "user", changes, organization_id=org.id, now=now)
    return user, password


def create_token(
    session: Session, actor: Actor, user: User, now: datetime, label: str | None = None
) -> str:
    token = "amp_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, token_hash=token_digest(token), label=label, created_at=now)
    )
    audit.record(
        session,
        actor,
        "create",
        "api_token",
        user.id,
        {"label": [None, label]},
        organization_id=user.organization_id,
        now=now,
    )
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user
