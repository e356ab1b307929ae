"""Helpers for the page tests: sign in through the real form, read CSRF tokens from pages."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
from starlette.testclient import TestClient

from tests.world import NOW, PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def travel(client: TestClient, now: datetime = NOW) -> None:
    """Pin the pages' clock (``app.state.clock``) at ``now``."""
    client.app.state.clock = lambda: now  # type: ignore[attr-defined]


def token_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def csrf(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    return token_from(response.text)


def login(
    client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/"
) -> httpx.Response:
    token = csrf(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_url},
        follow_redirects=False,
    )


def signed_in(client: TestClient, email: str) -> str:
    """Sign in and return the session's CSRF token for later form posts."""
    response = login(client, email)
    assert response.status_code == 303, response.text
    return csrf(client, "/cases/new")


def case_ids_in_order(html: str) -> list[str]:
    return re.findall(r'data-case-id="([^"]+)"', html)
