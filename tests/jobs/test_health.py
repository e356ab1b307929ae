"""``/healthz`` and the queue-page warning follow the clock's heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from jobs import heartbeat
from jobs.sweeps import SWEEPS
from tracker import db
from tracker.settings import get_settings
from tracker.types import utcnow
from tracker.web import health
from tracker.web.app import create_app

INTERVAL = 15.0


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings())) as c:
        yield c


def _beat_all(
    age: timedelta, stale_one: str | None = None, stale_age: timedelta | None = None
) -> None:
    now = utcnow()
    with db.session_scope() as session:
        for name in SWEEPS:
            when = now - (stale_age if name == stale_one and stale_age else age)
            heartbeat.beat(session, name, when, INTERVAL)


def test_not_running_when_no_clock_ever_beat(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["clock"] == "not running"
    assert response.json()["status"] == "degraded"
    with db.session_scope() as session:
        warning = health.clock_warning(session, utcnow())
    assert warning is not None and "not running" in warning
    # The pages call it with the time only.
    assert health.clock_warning(utcnow()) == warning


def test_ok_while_beating_then_stale_after_three_missed_beats(client: TestClient) -> None:
    _beat_all(timedelta(seconds=2))
    body = client.get("/healthz").json()
    assert body["clock"] == "ok" and body["status"] == "ok"
    with db.session_scope() as session:
        assert health.clock_warning(session, utcnow()) is None

    # Two missed beats: late, but not yet stale.
    _beat_all(timedelta(seconds=2 * INTERVAL + 5))
    assert client.get("/healthz").status_code == 200

    # Three missed beats of one sweep are enough: that kind of alert has stopped.
    _beat_all(timedelta(seconds=2), stale_one="escalation", stale_age=timedelta(seconds=50))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["clock"] == "stale"
    assert response.json()["clock_stale_jobs"] == ["escalation"]
    with db.session_scope() as session:
        warning = health.clock_warning(session, utcnow())
    assert warning is not None and "stopped" in warning and "NOT" in warning


def test_embedded_clock_that_never_beats_is_stale(client: TestClient) -> None:
    # The composition root hands the app the moment it started this process's own clock.
    state = client.app.state  # type: ignore[attr-defined]
    state.clock_started_at = utcnow()
    assert client.get("/healthz").json()["clock"] == "starting"
    interval = state.settings.sweep_interval_seconds
    own = health.OwnClock(utcnow(), interval)
    with db.session_scope() as session:
        assert health.clock_warning(session, utcnow(), own) is None
    state.clock_started_at = utcnow() - timedelta(seconds=3 * interval + 5)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["clock"] == "stale"
    own = health.OwnClock(state.clock_started_at, interval)
    with db.session_scope() as session:
        warning = health.clock_warning(session, utcnow(), own)
    assert warning is not None and "stopped" in warning
