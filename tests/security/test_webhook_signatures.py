"""Twilio webhooks: a missing or forged ``X-Twilio-Signature`` → 403, and nothing recorded.

Every route under ``/webhooks/`` in ``app.routes`` is tried, so a new webhook is covered the
day it lands. Signatures are computed with ``twilio.request_validator.RequestValidator``
against the public URL (``BASE_URL``), as Twilio computes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.security.test_authorization_matrix import route_keys
from tests.security.world import NOW, World, build_world
from tracker import db
from tracker.models import AuditEntry, Contact, Notification, TimelineEvent
from tracker.settings import get_settings
from tracker.web.app import create_app

AUTH_TOKEN = "twilio-auth-token-for-tests-only"
WRONG_TOKEN = "some-other-accounts-auth-token"


def webhook_paths() -> list[str]:
    return sorted(
        path for method, path in route_keys(create_app()) if path.startswith("/webhooks/")
    )


def _state() -> tuple[tuple[int, ...], tuple[object, ...]]:
    with db.session_scope() as session:
        counts = tuple(
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (AuditEntry, Contact, Notification, TimelineEvent)
        )
        # Status and opt-out live in columns: a refused callback must not touch them either.
        rows = tuple(
            session.execute(select(Notification.status, Notification.updated_at)).all()
        ) + tuple(session.execute(select(Contact.opted_out_at, Contact.updated_at)).all())
    return counts, rows


@pytest.fixture
def signed_env(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, TestClient, str]]:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SMS_TRANSPORT", "log")
    get_settings.cache_clear()
    world = build_world()
    app = create_app()
    app.state.clock = lambda: NOW
    with TestClient(app, base_url="http://testserver") as client:
        yield world, client, get_settings().base_url


def test_there_are_webhooks() -> None:
    assert len(webhook_paths()) >= 2, webhook_paths()


def test_signed_webhooks(signed_env: tuple[World, TestClient, str]) -> None:
    world, client, base_url = signed_env
    res = world.resources()
    refused: list[str] = []
    for path in webhook_paths():
        url_path = re.sub(r"\{\w+(:\w+)?\}", str(res["notification"]), path)
        url = base_url + url_path
        params = {
            "MessageSid": "SM" + "1" * 32,
            "MessageStatus": "delivered",
            "From": "+12025550112",
            "To": "+12025550100",
            "Body": "STOP",
            "AccountSid": "AC" + "0" * 32,
        }
        good = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        attempts: dict[str, dict[str, str]] = {
            "no signature": {},
            "empty signature": {"X-Twilio-Signature": ""},
            "wrong token": {
                "X-Twilio-Signature": RequestValidator(WRONG_TOKEN).compute_signature(url, params)
            },
            "another URL": {
                "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
                    base_url + "/webhooks/elsewhere", params
                )
            },
            "garbage": {"X-Twilio-Signature": "not base64 at all %%%"},
        }
        before = _state()
        for what, headers in attempts.items():
            answer = client.post(url_path, data=params, headers=headers)
            if answer.status_code != 403:
                refused.append(f"{path} with {what}: {answer.status_code}")
        # Tampered parameters under a signature computed for the original ones.
        tampered = params | {"Body": "START", "MessageStatus": "failed"}
        answer = client.post(url_path, data=tampered, headers={"X-Twilio-Signature": good})
        if answer.status_code != 403:
            refused.append(f"{path} with tampered parameters: {answer.status_code}")
        if _state() != before:
            refused.append(f"{path}: a refused request changed the database")
        # The genuine article gets through: the refusals above were about the signature.
        answer = client.post(url_path, data=params, headers={"X-Twilio-Signature": good})
        if not 200 <= answer.status_code < 300:
            refused.append(f"{path} correctly signed: {answer.status_code} {answer.text[:200]}")
    assert not refused, "\n".join(refused)
