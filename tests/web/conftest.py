"""API fixtures: an app on the test database, two organisations with users of every role."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy.orm import Session
from starlette.routing import compile_path
from starlette.testclient import TestClient

from tests import factories
from tests.world import NOW
from tracker import db
from tracker.models import Organization, User
from tracker.services import Actor
from tracker.services.orgs import create_token
from tracker.vocab import Role
from tracker.web import api, openapi
from tracker.web.app import create_app


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


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.document(api.OPERATIONS)


_PATTERNS = [(compile_path(op.path)[0], op) for op in api.OPERATIONS]


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The documented schema of this response; AssertionError when it is not documented."""
    for pattern, op in _PATTERNS:
        if op.method == method and pattern.match(path):
            responses = _document()["paths"][op.openapi_path][method.lower()]["responses"]
            assert str(status) in responses, f"{method} {path}: {status} is not documented"
            content = responses[str(status)].get("content")
            return content["application/json"]["schema"] if content else None
    return None


def check_documented(response: httpx.Response) -> None:
    """Every API response must match what /openapi.json says of it (schemathesis relies on it)."""
    request = response.request
    path = request.url.path
    if not path.startswith("/api/") or response.status_code in (405,):
        return
    schema = response_schema(request.method, path, response.status_code)
    if schema is None:
        if response.status_code == 204:
            assert response.content == b""
        return
    assert response.headers["content-type"].startswith("application/json")
    validator = jsonschema_rs.Draft202012Validator(
        {**schema, "components": _document()["components"]}, validate_formats=True
    )
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, f"{request.method} {path} {response.status_code}: {errors[:3]}"


class CheckedClient(TestClient):
    """A TestClient that checks every API response against the OpenAPI document."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        check_documented(response)
        return response


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app()
    app.state.clock = lambda: NOW
    with CheckedClient(app, base_url="http://testserver") as c:
        yield c
