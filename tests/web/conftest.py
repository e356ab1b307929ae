"""API fixtures: an app on the test database, two organisations with users of every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests import factories
from tracker import db
from tracker.models import Organization, User
from tracker.services import Actor
from tracker.services.orgs import create_token
from tracker.vocab import Role
from tracker.web.app import create_app

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Org:
    org: Organization
    users: dict[Role, User] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)

    @property
    def id(self) -> object:
        return self.org.id

    def headers(self, role: Role = Role.attorney) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def actor(self, role: Role = Role.attorney) -> Actor:
        return factories.actor_for(self.users[role])


def make_org(session: Session, name: str) -> Org:
    org = factories.org(session, NOW, name)
    result = Org(org)
    for role in Role:
        user = factories.user(session, org, NOW, role=role)
        result.users[role] = user
        result.tokens[role] = create_token(session, Actor.system("test"), user, NOW)
    return result


@pytest.fixture
def orgs(db_url: str) -> tuple[Org, Org]:
    """Two organisations, each with an admin, an attorney, a hotline and a coordinator."""
    with db.session_scope() as session:
        return make_org(session, "Hotline North"), make_org(session, "Legal South")


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="http://testserver") as c:
        yield c
