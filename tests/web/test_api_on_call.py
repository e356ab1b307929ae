"""/api/on-call-shifts: admins plan shifts, everyone reads who is on call, bad shifts answer
422 naming the field and write nothing (issue 15, items 1 and 4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import AuditEntry, OnCallShift
from tracker.vocab import Role

H = timedelta(hours=1)


def _count() -> int:
    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(OnCallShift)) or 0


def _shift(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Ana Volunteer",
        "phone": "(202) 555-0121",
        "starts_at": (NOW - H).isoformat(),
        "ends_at": (NOW + 8 * H).isoformat(),
        **extra,
    }


def test_admin_adds_a_shift_everyone_sees_who_is_on_call_masked(
    client: httpx.Client, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    created = client.post("/api/on-call-shifts", json=_shift(), headers=a.headers(Role.admin))
    assert created.status_code == 201, created.text
    assert created.json()["phone"].endswith("0121") and "555" not in created.json()["phone"]
    listed = client.get("/api/on-call-shifts", headers=a.headers(Role.coordinator)).json()
    [now] = listed["on_call_now"]
    assert now["name"] == "Ana Volunteer" and now["shift_id"] == created.json()["id"]
    # Another organisation sees none of it, and cannot delete it.
    assert client.get("/api/on-call-shifts", headers=b.headers(Role.admin)).json() == {
        "items": [],
        "on_call_now": [],
    }
    path = f"/api/on-call-shifts/{created.json()['id']}"
    assert client.delete(path, headers=b.headers(Role.admin)).status_code == 404
    assert client.delete(path, headers=a.headers(Role.admin)).status_code == 204
    assert _count() == 0
    with db.session_scope() as s:
        actions = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "on_call_shift"))
        )
    assert actions == {"create", "delete"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": (NOW - 2 * H).isoformat()}, "ends_at"),
        ({"phone": "+1 800 555 0199"}, "phone"),  # toll-free: cannot receive SMS
        ({"phone": "+44 20 7946 0000"}, "phone"),  # a London landline: no SMS either
        ({"phone": "not a phone"}, "phone"),
        (
            {"name": None, "phone": None, "user_id": "00000000-0000-4000-8000-000000000000"},
            "user_id",
        ),
        ({"weekly": True, "ends_at": (NOW + 8 * 24 * H).isoformat()}, "ends_at"),
    ],
)
def test_bad_shift_answers_422_naming_the_field_and_writes_nothing(
    client: httpx.Client, orgs: tuple[Org, Org], change: dict[str, Any], field: str
) -> None:
    a, _ = orgs
    body = {k: v for k, v in _shift(**change).items() if v is not None}
    response = client.post("/api/on-call-shifts", json=body, headers=a.headers(Role.admin))
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert _count() == 0


def test_another_organisations_user_is_refused_like_an_unknown_one(
    client: httpx.Client, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    body = {
        "user_id": str(b.users[Role.hotline].id),
        "starts_at": NOW.isoformat(),
        "ends_at": (NOW + H).isoformat(),
    }
    response = client.post("/api/on-call-shifts", json=body, headers=a.headers(Role.admin))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"user_id": "no such user in your organisation"}
    assert _count() == 0
