"""The morning digest at 07:00 in each attorney's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from jobs.digest import send_digests
from tests import factories
from tests.jobs.world import new_case, sms, world
from tracker.schemas import CaseUpdate
from tracker.services import cases as case_service

# 13:00 UTC on a winter day is 07:00 in Chicago and 08:00 in New York.
SEVEN_IN_CHICAGO = datetime(2026, 1, 14, 13, 0, tzinfo=UTC)


def test_digest_once_a_day_in_the_attorneys_zone_only_when_something_is_open(
    session: Session,
) -> None:
    now = SEVEN_IN_CHICAGO - timedelta(days=1)
    w = world(session, now=now)
    w.attorney.time_zone = "America/Chicago"
    idle = factories.user(session, w.org, now, phone="+12025550120")
    case = new_case(session, w, now=now)
    other = new_case(session, w, now=now)
    case_service.update_case(
        session, w.actor, case, CaseUpdate(removal_scheduled_at=now + timedelta(hours=30)), now
    )
    case_service.update_case(
        session, w.actor, other, CaseUpdate(removal_scheduled_at=now + timedelta(hours=40)), now
    )
    session.commit()

    assert send_digests(session, SEVEN_IN_CHICAGO - timedelta(minutes=1)) == 0
    assert send_digests(session, SEVEN_IN_CHICAGO) == 1
    assert send_digests(session, SEVEN_IN_CHICAGO + timedelta(minutes=1)) == 0
    session.commit()
    [digest] = sms(session, kind="digest")
    assert digest.user_id == w.attorney.id and digest.to_phone == w.attorney.phone
    assert "Rosa" not in digest.body and "Fictitia" not in digest.body
    # The attorney with nothing open gets nothing.
    assert all(m.user_id != idle.id for m in sms(session, kind="digest"))
    # The next morning, a new one.
    assert send_digests(session, SEVEN_IN_CHICAGO + timedelta(days=1)) == 1
