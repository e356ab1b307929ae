"""Every HTML form POST without the session's CSRF token → 403, and nothing is written.

The routes come from ``app.routes``: every POST outside ``/api/`` (bearer tokens, no cookies)
and ``/webhooks/`` (Twilio signatures) is a form, so a new form is covered the day it lands.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.security.test_authorization_matrix import fill, route_keys
from tests.security.world import NOW, build_world, sign_in
from tracker import db
from tracker.models import AuditEntry, Case, Contact, OnCallShift, Request, User
from tracker.vocab import Role
from tracker.web.app import create_app

NOT_FORMS = ("/api/", "/webhooks/")
KIND_OF_PARAM = {
    "case_id": "case",
    "request_id": "filed_request",
    "alert_id": "alert",
    "office_id": "field_office",
    "shift_id": "on_call_shift",
}


def form_posts() -> list[str]:
    return sorted(
        path
        for method, path in route_keys(create_app())
        if method == "POST" and not path.startswith(NOT_FORMS)
    )


def _counts() -> tuple[int, ...]:
    with db.session_scope() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (AuditEntry, Case, Contact, Request, User, OnCallShift)
        )


def test_there_are_forms_to_protect() -> None:
    assert {"/login", "/cases/new"} <= set(form_posts())


@pytest.mark.slow
def test_form_posts_without_csrf_token_are_refused(db_url: str) -> None:
    world = build_world()
    resources = world.resources()
    app = create_app()
    app.state.clock = lambda: NOW
    admin = world.principals[Role.admin.value]
    with TestClient(app, base_url="http://testserver") as client:
        good = sign_in(client, admin)
        refused: list[str] = []
        before = _counts()
        for path in form_posts():
            param = re.search(r"\{(\w+)", path)
            if param and param.group(1) == "token_id":
                # Refused before any lookup: the id need not exist.
                url = path.replace("{token_id}", str(uuid.uuid4()))
            elif param and param.group(1) == "user_id":
                assert admin.user is not None
                url = path.replace("{user_id}", str(admin.user.id))
            else:
                url = fill(path, resources, KIND_OF_PARAM[param.group(1)] if param else None)
            # A plausible form (so that only the token is missing), then a forged token.
            form = {"given_name": "Forged", "family_name": "Request", "email": "x@example.org"}
            for attempt in ({}, {"csrf_token": "forged-" + good[:10]}):
                response = client.post(url, data=form | attempt, follow_redirects=False)
                if response.status_code != 403:
                    refused.append(f"{path} {attempt or 'no token'}: {response.status_code}")
            # The same refusal for the header form of the token.
            response = client.post(
                url, data=form, headers={"X-CSRF-Token": "forged"}, follow_redirects=False
            )
            if response.status_code != 403:
                refused.append(f"{path} forged header: {response.status_code}")
        assert not refused, "form POSTs accepted without a valid CSRF token:\n" + "\n".join(refused)
        assert _counts() == before, "a refused form POST wrote something"
        # The session still works with its own token: the refusals were about the token only.
        ok = client.post("/cases/new", data={"given_name": "", "csrf_token": good})
        assert ok.status_code in (200, 422)
