"""Small builders for test data, written through the real services."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tests.world import PASSWORD
from tracker.models import Case, Organization, User
from tracker.schemas import CaseCreate, UserCreate
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services.orgs import create_org, create_user
from tracker.vocab import Role

_seq = itertools.count(1)


def org(session: Session, now: datetime, name: str | None = None) -> Organization:
    return create_org(session, Actor.system("test"), name or f"Org {next(_seq)}", now)


def user(
    session: Session,
    organization: Organization,
    now: datetime,
    role: Role = Role.attorney,
    **extra: Any,
) -> User:
    created, _ = create_user(
        session,
        Actor.system("test"),
        organization,
        UserCreate(email=f"user{next(_seq)}@example.org", role=role, **extra),
        now,
        password=PASSWORD,
    )
    return created


def actor_for(u: User) -> Actor:
    return Actor(label=u.email, organization_id=u.organization_id, user_id=u.id, role=u.role)


def case(session: Session, actor: Actor, now: datetime, **fields: Any) -> Case:
    fields.setdefault("given_name", "Test")
    return case_service.create_case(session, actor, CaseCreate(**fields), now)
