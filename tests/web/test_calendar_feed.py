"""The calendar-feed URLs over HTTP: stable until rotated, stored only hashed, 404 after."""

from __future__ import annotations

import hashlib

from icalendar import Calendar
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tracker import db
from tracker.models import User
from tracker.vocab import Role


def test_feed_url_is_stable_until_rotated_and_stored_only_hashed(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    headers = north.headers(Role.attorney)
    first = client.get("/api/me/calendar", headers=headers)
    assert first.status_code == 200
    url = first.json()["url"]
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    assert client.get("/api/me/calendar", headers=headers).json()["url"] == url
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with db.session_scope() as session:
        user = session.get(User, north.users[Role.attorney].id)
        assert user is not None
        assert user.calendar_token_hash == hashlib.sha256(token.encode()).hexdigest()
    path = url.removeprefix("http://testserver")
    feed = client.get(path)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    Calendar.from_ical(feed.content)

    rotated = client.post("/api/me/calendar/rotate", headers=headers)
    assert rotated.status_code == 200
    new_url = rotated.json()["url"]
    assert new_url != url
    assert client.get(path).status_code == 404
    assert client.get(new_url.removeprefix("http://testserver")).status_code == 200
    assert client.get("/api/me/calendar", headers=headers).json()["url"] == new_url
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    assert client.get("/api/me/calendar").status_code == 401
