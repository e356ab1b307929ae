"""Issue 10, items 4–7 and 12: sessions that end, passwords with a lifecycle, revocable
tokens, a throttle that cannot lock the owner out, and invitations that enumerate nobody."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW
from tests.web.pages_support import PASSWORD, token_from
from tracker import db, passwords
from tracker.cli import main
from tracker.models import ApiToken, AuditEntry, Organization, User
from tracker.schemas import UserCreate
from tracker.services import Actor
from tracker.services.orgs import UNAVAILABLE_EMAIL, create_token, create_user
from tracker.settings import load_settings
from tracker.vocab import Role
from tracker.web.app import create_app
from tracker.web.auth import ADDRESS_LIMIT, PAIR_LIMIT

NEW_PASSWORD = "lantern orchard velvet 1987 quiver"
SYSTEM = Actor.system("test")


@dataclass
class People:
    org: Organization
    other_org: Organization
    admin: User
    hotline: User
    outsider: User
    hotline_token: str


@pytest.fixture
def people(db_url: str) -> People:
    with db.session_scope() as s:
        org = factories.org(s, NOW, "Lifecycle Hotline")
        other = factories.org(s, NOW, "Secret Other Org")
        admin = factories.user(s, org, NOW, role=Role.admin, name="Ada Admin")
        hotline = factories.user(s, org, NOW, role=Role.hotline, name="Hugo Hotline")
        outsider = factories.user(s, other, NOW, role=Role.admin)
        token = create_token(s, SYSTEM, hotline, NOW, label="phone app")
        return People(org, other, admin, hotline, outsider, token)


@pytest.fixture
def app(db_url: str) -> Starlette:
    app = create_app()
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
def clients(app: Starlette) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(peer: str = "testclient") -> TestClient:
        client = TestClient(app, base_url="http://testserver", client=(peer, 50000))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def travel(app: Starlette, delta: timedelta) -> None:
    app.state.clock = lambda: NOW + delta


def login(
    client: TestClient, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    token = token_from(client.get("/login", headers=headers).text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


def signed_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    response = login(client, email, password)
    assert response.status_code == 303, response.text[:300]
    # Any signed-in page carries the token (the sign-out form).
    return token_from(client.get("/").text)


def is_signed_in(client: TestClient) -> bool:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def change(client: TestClient, token: str, current: str, new: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        "/password",
        data={"csrf_token": token, "current": current, "new": new, "confirm": confirm or new},
        follow_redirects=False,
    )


def audits(action: str) -> int:
    with db.session_scope() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


# --- 4. sessions that end -----------------------------------------------------------------


def test_logout_ends_every_session_of_the_user(people: People, clients: Any) -> None:
    office, phone = clients(), clients()
    token = signed_in(office, people.hotline.email)
    signed_in(phone, people.hotline.email)
    assert is_signed_in(office) and is_signed_in(phone)
    response = phone.post("/logout", data={"csrf_token": token_from(phone.get("/").text)})
    assert response.status_code in (200, 303)
    assert not is_signed_in(phone)
    # The session left open on the office computer has ended too.
    assert not is_signed_in(office)
    late = office.post("/cases/new", data={"csrf_token": token}, follow_redirects=False)
    assert late.status_code in (303, 403)
    assert audits("logout") == 1


def test_role_change_and_deactivation_end_the_users_sessions(people: People, clients: Any) -> None:
    admin, hotline = clients(), clients()
    admin_token = signed_in(admin, people.admin.email)
    signed_in(hotline, people.hotline.email)
    response = admin.post(
        f"/admin/users/{people.hotline.id}",
        data={"csrf_token": admin_token, "role": "coordinator", "active": "on"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert not is_signed_in(hotline)
    # Signing in again works, with the new role.
    signed_in(hotline, people.hotline.email)
    assert is_signed_in(hotline)
    admin.post(
        f"/admin/users/{people.hotline.id}",
        data={"csrf_token": admin_token, "role": "coordinator"},
        follow_redirects=False,
    )
    assert not is_signed_in(hotline)
    assert is_signed_in(admin)


def test_idle_and_absolute_timeouts(people: People, app: Starlette, clients: Any) -> None:
    settings = app.state.settings
    idle = timedelta(minutes=settings.session_idle_minutes)
    client = clients()
    signed_in(client, people.hotline.email)
    # Active every (idle - 5 minutes): the session lives on until its absolute limit.
    step = idle - timedelta(minutes=5)
    elapsed = timedelta(0)
    while elapsed + step < timedelta(hours=settings.session_max_hours):
        elapsed += step
        travel(app, elapsed)
        assert is_signed_in(client), f"signed out after {elapsed} of activity"
    travel(app, timedelta(hours=settings.session_max_hours, minutes=1))
    assert not is_signed_in(client), "a session outlived SESSION_MAX_HOURS"
    # Idle: signed in, then away longer than the idle limit.
    travel(app, timedelta(days=1))
    signed_in(client, people.hotline.email)
    travel(app, timedelta(days=1) + idle + timedelta(minutes=1))
    assert not is_signed_in(client), "an idle session outlived SESSION_IDLE_MINUTES"


def test_session_timeouts_are_settings_with_night_shift_defaults() -> None:
    defaults = load_settings({"SECRET_KEY": "x", "DATA_KEYS": "k" * 43 + "="})
    assert 60 <= defaults.session_idle_minutes <= 120
    assert 12 <= defaults.session_max_hours <= 14
    assert defaults.forwarded_allow_ips == "127.0.0.1"
    chosen = load_settings(
        {
            "SECRET_KEY": "x",
            "DATA_KEYS": "k" * 43 + "=",
            "SESSION_IDLE_MINUTES": "45",
            "SESSION_MAX_HOURS": "10",
            "FORWARDED_ALLOW_IPS": "10.0.0.0/8",
        }
    )
    assert (chosen.session_idle_minutes, chosen.session_max_hours) == (45, 10)
    assert chosen.forwarded_allow_ips == "10.0.0.0/8"
    with pytest.raises(ValueError, match="SESSION_IDLE_MINUTES"):
        load_settings({"SECRET_KEY": "x", "DATA_KEYS": "k" * 43 + "=", "SESSION_IDLE_MINUTES": "0"})
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("SESSION_IDLE_MINUTES", "SESSION_MAX_HOURS", "FORWARDED_ALLOW_IPS"):
        assert name in readme, f"{name} is not documented in the README"


# --- 5. passwords with a lifecycle --------------------------------------------------------


def _invite(people: People) -> tuple[User, str]:
    with db.session_scope() as s:
        org = s.get(Organization, people.org.id)
        assert org is not None
        return create_user(
            s, SYSTEM, org, UserCreate(email="new.volunteer@example.org", role="hotline"), NOW
        )


def test_one_time_password_works_once_and_forces_a_change(people: People, clients: Any) -> None:
    user, one_time = _invite(people)
    with db.session_scope() as s:
        token = create_token(s, SYSTEM, s.get(User, user.id), NOW)  # type: ignore[arg-type]
    first = clients()
    response = login(first, user.email, one_time)
    assert response.status_code == 303
    assert response.headers["location"] == "/password"
    # Every page leads to the change-password page until a new password is chosen.
    for path in ("/", "/cases/new", "/outbox"):
        went = first.get(path, follow_redirects=False)
        assert (went.status_code, went.headers.get("location")) == (303, "/password"), path
    page = first.get("/password")
    assert page.status_code == 200 and 'id="password-required"' in page.text
    # API tokens are not held up by it.
    api = first.get("/api/cases", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    # The one-time password does not sign in a second time.
    second = clients()
    again = login(second, user.email, one_time)
    assert again.status_code == 401 and "already been used" in again.text
    csrf = token_from(page.text)
    assert change(first, csrf, one_time, NEW_PASSWORD).status_code == 303
    assert is_signed_in(first)
    assert login(clients(), user.email, one_time).status_code == 401
    assert login(clients(), user.email, NEW_PASSWORD).status_code == 303
    assert audits("password_change") == 1


@pytest.mark.parametrize(
    ("new", "confirm", "field", "words"),
    [
        ("short pw 1", None, "new", "at least 12 characters"),
        ("password1234", None, "new", "too easy to guess"),
        ("qwertyuiop123", None, "new", "too easy to guess"),
        ("hugo hotline 2026", None, "new", "name or e-mail"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "confirm", "does not match"),
    ],
)
def test_change_password_refuses_weak_and_mismatched(
    people: People, clients: Any, new: str, confirm: str | None, field: str, words: str
) -> None:
    client = clients()
    token = signed_in(client, people.hotline.email)
    response = change(client, token, PASSWORD, new, confirm)
    assert response.status_code == 422
    assert words in response.text
    assert f"<strong>{field}</strong>" in response.text
    # Nothing changed: the old password still signs in.
    assert login(clients(), people.hotline.email).status_code == 303


def test_change_password_needs_the_current_one_and_ends_other_sessions(
    people: People, clients: Any
) -> None:
    here, elsewhere = clients(), clients()
    token = signed_in(here, people.hotline.email)
    signed_in(elsewhere, people.hotline.email)
    wrong = change(here, token, "not my password at all", NEW_PASSWORD)
    assert wrong.status_code == 422 and "<strong>current</strong>" in wrong.text
    assert change(here, token, PASSWORD, NEW_PASSWORD).status_code == 303
    assert is_signed_in(here)
    assert not is_signed_in(elsewhere)
    assert login(clients(), people.hotline.email, PASSWORD).status_code == 401


def test_password_strength_uses_zxcvbn_feedback() -> None:
    assert passwords.problem(NEW_PASSWORD) is None
    assert "12 characters" in (passwords.problem("Tr0ub4d&r!") or "")
    common = passwords.problem("iloveyou1234") or ""
    assert "too easy to guess" in common and "common" in common.lower()
    for mine in ("maria.lopez2026!", "Maria-Lopez-Amparo", "hugohotline-7x9q"):
        why = passwords.problem(mine, ["maria.lopez@example.org", "Hugo Hotline"])
        assert why is not None and "name or e-mail" in why, mine


def test_admin_reset_issues_a_one_time_password_and_ends_sessions(
    people: People, clients: Any
) -> None:
    admin, hotline = clients(), clients()
    admin_token = signed_in(admin, people.admin.email)
    signed_in(hotline, people.hotline.email)
    response = admin.post(
        f"/admin/users/{people.hotline.id}/password", data={"csrf_token": admin_token}
    )
    assert response.status_code == 200
    found = re.search(r'<code id="reset-password">([^<]+)</code>', response.text)
    assert found, "the new one-time password is shown once"
    one_time = found.group(1)
    assert not is_signed_in(hotline)
    assert login(clients(), people.hotline.email, PASSWORD).status_code == 401
    fresh = clients()
    went = login(fresh, people.hotline.email, one_time)
    assert went.headers["location"] == "/password"
    assert audits("password_reset") == 1
    # Shown once: the users page does not show it again.
    assert one_time not in admin.get("/admin/users").text
    # An admin changes their own password on the password page, not by a reset.
    own = admin.post(f"/admin/users/{people.admin.id}/password", data={"csrf_token": admin_token})
    assert own.status_code == 422


# --- 6. API tokens that can be revoked ----------------------------------------------------


def _api(client: TestClient, token: str) -> int:
    return client.get("/api/cases", headers={"Authorization": f"Bearer {token}"}).status_code


def test_cli_token_revoke_answers_401_at_once(
    people: People, clients: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client = clients()
    with db.session_scope() as s:
        second = create_token(s, SYSTEM, s.get(User, people.hotline.id), NOW)  # type: ignore[arg-type]
    assert _api(client, people.hotline_token) == 200
    assert main(["token", "revoke", "--email", people.hotline.email.upper()]) == 0
    assert "revoked 2 token(s)" in capsys.readouterr().out
    assert _api(client, people.hotline_token) == 401
    assert _api(client, second) == 401
    assert audits("revoke") == 2
    assert main(["token", "revoke", "--email", "nobody@example.org"]) == 1


def test_admin_lists_tokens_and_revokes_one(people: People, clients: Any) -> None:
    api = clients()
    assert _api(api, people.hotline_token) == 200  # records last use (at NOW)
    with db.session_scope() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.user_id == people.hotline.id))
        assert row is not None and row.last_used_at == NOW
        token_id = row.id
        outsider_token = create_token(s, SYSTEM, s.get(User, people.outsider.id), NOW, label="b")  # type: ignore[arg-type]
        outsider_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == people.outsider.id))
    admin = clients()
    csrf = signed_in(admin, people.admin.email)
    page = admin.get("/admin/users")
    row_html = page.text[page.text.index(f'data-token="{token_id}"') :][:1200]
    assert "phone app" in row_html and people.hotline.email in row_html
    assert "never" not in row_html  # last used is shown
    assert f'data-token="{outsider_id}"' not in page.text  # another organisation's tokens
    # Another organisation's token is not found, and stays valid.
    assert (
        admin.post(f"/admin/tokens/{outsider_id}/revoke", data={"csrf_token": csrf}).status_code
        == 404
    )
    assert _api(api, outsider_token) == 200
    # Without the CSRF token nothing happens.
    assert admin.post(f"/admin/tokens/{token_id}/revoke").status_code == 403
    assert _api(api, people.hotline_token) == 200
    done = admin.post(
        f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert _api(api, people.hotline_token) == 401
    assert "revoked" in admin.get("/admin/users").text
    assert audits("revoke") == 1


# --- 7. a throttle that cannot lock people out --------------------------------------------


def test_a_throttled_address_cannot_lock_the_owner_out(people: People, clients: Any) -> None:
    attacker, owner = clients("198.51.100.7"), clients("203.0.113.9")
    for _ in range(PAIR_LIMIT):
        assert login(attacker, people.hotline.email, "guess guess guess").status_code == 401
    blocked = login(attacker, people.hotline.email, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    # The real user, from their own address, signs in while the attacker is throttled.
    assert login(owner, people.hotline.email).status_code == 303
    assert login(attacker, people.hotline.email, PASSWORD).status_code == 429


def test_spraying_cap_blocks_that_address_only(people: People, clients: Any) -> None:
    sprayer, colleague = clients("198.51.100.8"), clients("203.0.113.10")
    for i in range(ADDRESS_LIMIT):
        assert login(sprayer, f"guess{i}@example.org", "Winter2026!!").status_code == 401
    assert login(sprayer, people.admin.email).status_code == 429
    assert login(colleague, people.admin.email).status_code == 303


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(people: People, clients: Any) -> None:
    proxy = clients("127.0.0.1")  # FORWARDED_ALLOW_IPS defaults to loopback
    for _ in range(PAIR_LIMIT):
        login(proxy, people.hotline.email, "wrong", **{"X-Forwarded-For": "198.51.100.20"})
    assert (
        login(proxy, people.hotline.email, **{"X-Forwarded-For": "198.51.100.20"}).status_code
        == 429
    )
    # The same proxy forwarding another client: that client is not throttled.
    assert (
        login(proxy, people.hotline.email, **{"X-Forwarded-For": "203.0.113.20"}).status_code == 303
    )
    # An untrusted peer cannot escape its throttle by inventing X-Forwarded-For values.
    direct = clients("192.0.2.50")
    for i in range(PAIR_LIMIT):
        spoof = {"X-Forwarded-For": f"10.9.8.{i}"}
        assert login(direct, people.admin.email, "wrong", **spoof).status_code == 401
    fresh = {"X-Forwarded-For": "10.9.8.250"}
    assert login(direct, people.admin.email, **fresh).status_code == 429


def test_serve_and_procfile_take_forwarded_allow_ips_from_the_setting(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    import uvicorn

    from tracker.settings import get_settings

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.2.3")
    get_settings.cache_clear()
    try:
        assert main(["serve"]) == 0
    finally:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS")
        get_settings.cache_clear()
    assert seen["forwarded_allow_ips"] == "10.1.2.3"
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    assert '--forwarded-allow-ips "${FORWARDED_ALLOW_IPS' in procfile


# --- 12. invitations enumerate nobody -----------------------------------------------------


def test_inviting_an_email_of_another_organisation_is_a_generic_answer(
    people: People, clients: Any
) -> None:
    admin = clients()
    csrf = signed_in(admin, people.admin.email)
    response = admin.post(
        "/admin/users",
        data={"csrf_token": csrf, "email": people.outsider.email.upper(), "role": "hotline"},
    )
    assert response.status_code == 422
    assert UNAVAILABLE_EMAIL in response.text
    for leak in ("already registered", "exists", "Secret Other Org", str(people.other_org.id)):
        assert leak not in response.text, leak
    with db.session_scope() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(User).where(User.organization_id == people.org.id)
            )
            == 2
        )
    # An address already in one's own organisation is plainly a duplicate (it is on the list).
    own = admin.post(
        "/admin/users", data={"csrf_token": csrf, "email": people.hotline.email, "role": "hotline"}
    )
    assert own.status_code == 422 and "already registered" in own.text
