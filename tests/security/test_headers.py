"""Security headers on every kind of response, and CSRF however the cookie header is spelled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.security.world import NOW, World, build_world, sign_in
from tracker import db
from tracker.models import Case
from tracker.settings import get_settings
from tracker.vocab import Role
from tracker.web.app import create_app
from tracker.web.auth import SESSION_COOKIE

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def env(db_url: str) -> Iterator[tuple[World, TestClient]]:
    world = build_world()
    app = create_app()
    app.state.clock = lambda: NOW
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield world, client


def _check(response: object, what: str, *, cacheable: bool = False) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in EVERYWHERE.items():
        assert headers.get(name) == value, f"{what}: {name}={headers.get(name)!r}"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), what
    if not cacheable:
        assert headers.get("cache-control") == "no-store", f"{what}: {headers.get('cache-control')}"
    assert "strict-transport-security" not in headers, f"{what}: HSTS over plain http"


def test_every_kind_of_response_carries_the_headers(env: tuple[World, TestClient]) -> None:
    world, client = env
    api = world.principals[Role.admin.value].headers
    case_id = world.resources()["case"]
    _check(client.get("/login"), "login page")
    _check(client.get("/no-such-page"), "404 page")
    _check(client.get("/api/cases", headers=api), "API list")
    _check(client.get(f"/api/cases/{case_id}", headers=api), "API case")
    _check(client.get("/api/cases"), "API 401")
    _check(client.get("/api/cases", params={"cursor": "x"}, headers=api), "API 422")
    _check(
        client.get("/api/reports/field-offices.csv", params={"period": "2026-10"}, headers=api),
        "public CSV",
    )
    _check(client.get("/calendar/not-a-token.ics"), "calendar 404")
    _check(client.get("/static/amparo.css"), "static file", cacheable=True)
    _check(client.post("/webhooks/twilio/sms", data={"Body": "hi"}), "unsigned webhook")
    sign_in(client, world.principals[Role.admin.value])
    _check(client.get(f"/cases/{case_id}"), "case page")
    _check(client.get("/cases/new"), "form page")


def test_a_500_carries_the_headers(env: tuple[World, TestClient]) -> None:
    _world, client = env

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    client.app.router.routes.insert(0, Route("/boom", boom))  # type: ignore[attr-defined]
    answer = client.get("/boom")
    assert answer.status_code == 500
    _check(answer, "500")


def test_hsts_when_base_url_is_https(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASE_URL", "https://amparo.example.org")
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        get_settings.cache_clear()
    with TestClient(app, base_url="https://testserver") as client:
        for path in ("/login", "/api/cases", "/static/amparo.css", "/nowhere"):
            assert client.get(path).headers["strict-transport-security"].startswith("max-age="), (
                path
            )


@pytest.mark.parametrize(
    "spelling",
    [
        "{name} ={value}",  # a space before "=": the session still decodes
        "{name}= {value}",
        "other=1;{name}={value}",
        "  {name}={value}  ",
    ],
)
def test_csrf_holds_however_the_cookie_is_spelled(
    env: tuple[World, TestClient], spelling: str
) -> None:
    world, client = env
    sign_in(client, world.principals[Role.admin.value])
    value = client.cookies[SESSION_COOKIE]
    assert client.get("/cases/new").status_code == 200
    with TestClient(client.app, base_url="http://testserver") as attacker:
        cookie = spelling.format(name=SESSION_COOKIE, value=value)
        # The same session, proven: a page that needs a signed-in user opens.
        assert attacker.get("/cases/new", headers={"Cookie": cookie}).status_code == 200
        before = _cases()
        answer = attacker.post(
            "/cases/new",
            data={"given_name": "Forged", "family_name": "Request"},
            headers={"Cookie": cookie},
            follow_redirects=False,
        )
        assert answer.status_code == 403, (cookie, answer.status_code)
        assert _cases() == before


def _cases() -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)
