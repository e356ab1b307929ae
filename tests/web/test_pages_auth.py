"""Signing in and out of the pages: cookie flags, throttling, CSRF, redirects."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tests.web.pages_support import PASSWORD, csrf, login, signed_in, travel
from tracker import db
from tracker.models import AuditEntry, Case, LoginFailure, User
from tracker.settings import get_settings
from tracker.vocab import Role
from tracker.web.app import create_app
from tracker.web.auth import ADDRESS_LIMIT, PAIR_LIMIT, pair_key


def _count(model: type, *where: object) -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_pages_require_sign_in(client: TestClient, orgs: tuple[Org, Org]) -> None:
    response = client.get("/cases/new?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cases/new%3Fx%3D1"


def test_login_sets_a_safe_cookie_and_lands_on_next(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    user = orgs[0].users[Role.hotline]
    response = login(client, user.email.upper(), next_url="/cases/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/cases/new"
    cookie = response.headers["set-cookie"].lower()
    assert "amparo_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # BASE_URL is http in the tests
    page = client.get("/cases/new")
    assert page.status_code == 200
    assert "New case" in page.text
    assert page.headers["cache-control"] == "no-store"
    with db.session_scope() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "login"))
        assert entry is not None and entry.actor_id == user.id
        assert s.get(User, user.id).last_login_at == NOW  # type: ignore[union-attr]


def test_cookie_is_secure_when_base_url_is_https(db_url: str, orgs: tuple[Org, Org]) -> None:
    settings = dataclasses.replace(get_settings(), base_url="https://amparo.example.org")
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        response = login(client, orgs[0].users[Role.admin].email)
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_next_never_leaves_the_site(client: TestClient, orgs: tuple[Org, Org]) -> None:
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "//["):
        client.cookies.clear()
        response = login(client, orgs[0].users[Role.admin].email, next_url=evil)
        assert response.headers["location"] == "/", evil


def test_wrong_password_then_throttled_per_email_and_address(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    email = orgs[0].users[Role.attorney].email
    for _ in range(PAIR_LIMIT):
        response = login(client, email, "wrong password")
        assert response.status_code == 401
        assert "Wrong e-mail or password" in response.text
    # Past the limit even the right password is refused from this address, with a clear message.
    response = login(client, email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text
    assert response.headers["retry-after"] == "900"
    assert client.get("/", follow_redirects=False).status_code == 303
    # Another user on the same address is not locked out by someone else's typos.
    assert login(client, orgs[0].users[Role.hotline].email).status_code == 303
    # After the window, the right password works again and clears the pair's failures.
    client.cookies.clear()
    travel(client, NOW + timedelta(minutes=16))
    assert login(client, email, PASSWORD).status_code == 303
    assert _count(LoginFailure, LoginFailure.key_hash == pair_key(email, "testclient")) == 0
    # The address's rows stay until they age out (another e-mail may be under attack).
    assert _count(LoginFailure) == PAIR_LIMIT


def test_throttled_per_client_address(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    for i in range(ADDRESS_LIMIT):
        assert login(client, f"nobody{i}@example.org", "guess").status_code == 401
    response = login(client, orgs[0].users[Role.admin].email, PASSWORD)
    assert response.status_code == 429


def test_unknown_email_and_inactive_user_are_refused_alike(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    user = orgs[0].users[Role.coordinator]
    with db.session_scope() as s:
        s.get(User, user.id).active = False  # type: ignore[union-attr]
    for email in ("nobody@example.org", user.email):
        response = login(client, email, PASSWORD)
        assert response.status_code == 401
        assert "Wrong e-mail or password" in response.text


def test_deactivation_ends_an_open_session(client: TestClient, orgs: tuple[Org, Org]) -> None:
    user = orgs[0].users[Role.hotline]
    signed_in(client, user.email)
    with db.session_scope() as s:
        s.get(User, user.id).active = False  # type: ignore[union-attr]
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_post_without_valid_csrf_token_is_403_and_writes_nothing(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    form = {"given_name": "Test"}
    assert client.post("/cases/new", data=form).status_code == 403
    assert client.post("/cases/new", data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert _count(Case) == 0
    # The same form with the session's token goes through.
    response = client.post("/cases/new", data={**form, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert _count(Case) == 1


def test_login_itself_needs_the_token(client: TestClient, orgs: tuple[Org, Org]) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"email": orgs[0].users[Role.admin].email, "password": PASSWORD}
    )
    assert response.status_code == 403


def test_logout_is_a_post_and_ends_the_session(client: TestClient, orgs: tuple[Org, Org]) -> None:
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    assert client.get("/logout").status_code == 405
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
    assert csrf(client) != token  # a new session, a new token
