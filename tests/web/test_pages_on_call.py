"""The on-call page and the queue's "on call now" (issue 15): admins add and remove shifts in
the organisation's zone; a bad shift shows the field's error and writes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in
from tracker import db
from tracker.models import OnCallShift
from tracker.timefmt import to_local
from tracker.vocab import Role


def _count() -> int:
    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(OnCallShift)) or 0


def test_admin_adds_a_shift_and_the_queue_shows_who_is_on_call(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    a, _ = orgs
    zone = a.org.time_zone
    start, end = (
        to_local(NOW + timedelta(hours=h), zone).replace(tzinfo=None).isoformat(timespec="minutes")
        for h in (-1, 3)
    )
    token = signed_in(client, a.users[Role.admin].email)
    form = {
        "csrf_token": token,
        "name": "Ana Volunteer",
        "phone": "202 555 0121",
        "starts_at": start,
        "ends_at": end,
    }
    added = client.post("/admin/on-call", data=form, follow_redirects=False)
    assert added.status_code == 303, added.text
    assert _count() == 1
    queue = client.get("/").text
    assert "On call now" in queue and "Ana Volunteer" in queue and "0121" in queue
    assert "555 0121" not in queue and "5550121" not in queue

    # Ending before it starts: the page names the field, nothing written.
    bad = client.post(
        "/admin/on-call", data=form | {"ends_at": form["starts_at"]}, follow_redirects=False
    )
    assert bad.status_code == 422 and 'id="ends_at-error"' in bad.text
    landline = client.post(
        "/admin/on-call", data=form | {"phone": "+1 800 555 0199"}, follow_redirects=False
    )
    assert landline.status_code == 422 and 'id="phone-error"' in landline.text
    assert _count() == 1

    with db.session_scope() as s:
        shift_id = s.scalar(select(OnCallShift.id))
    removed = client.post(
        f"/admin/on-call/{shift_id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert removed.status_code == 303 and _count() == 0
    assert "nobody on shift" in client.get("/").text
