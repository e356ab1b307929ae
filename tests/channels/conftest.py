"""Channel tests: a webhook client on the test database (like tests/notifications)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.notifications.helpers import AUTH_TOKEN, NOON
from tracker import db
from tracker.settings import get_settings
from tracker.web.app import create_app

BASE = "http://testserver"
WHATSAPP_FROM = "whatsapp:+14155238886"
VOICE_FROM = "+12025550188"
# kind × language → Content template (one with ordered variables, one with named ones).
TEMPLATES = {
    "decision_granted": {
        "es": {"sid": "HX" + "a" * 32, "variables": ["first_name", "request_kind", "organization"]}
    },
    "released": {"es": "HX" + "b" * 32},
}


def channel_settings(session: Session) -> None:
    """This session's settings with WhatsApp templates configured."""
    session.info["settings"] = dataclasses.replace(
        db.settings_of(session), whatsapp_templates=json.dumps(TEMPLATES)
    )


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(get_settings(), twilio_auth_token=AUTH_TOKEN, base_url=BASE)
    app = create_app(settings)
    app.state.clock = lambda: NOON + timedelta(minutes=5)
    with TestClient(app, base_url=BASE) as c:
        yield c
