"""Custody in the attorney's calendar feed and morning digest (SQLite and PostgreSQL): a
temporary stay's expiry from any forum is an event saying so (first name and initial only, no
A-number); a transfer of the last day appears in the digest, an older one no longer does; the
transfer is on the case's timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.digest import send_digests
from tests import factories, world
from tests.jobs.world import new_case, sms
from tests.jobs.world import world as jobs_world
from tests.world import NOW
from tracker import calendar
from tracker.models import TimelineEvent
from tracker.schemas import CustodyEventIn, DeterminationIn, RequestCreate
from tracker.services import custody as custody_service
from tracker.services import requests as request_service
from tracker.vocab import CustodyEventKind, StayForum

H = timedelta(hours=1)
# 13:00 UTC on a winter day is 07:00 in Chicago.
SEVEN_IN_CHICAGO = datetime(2026, 1, 14, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("forum", "label"),
    [(StayForum.bia, "BIA"), (StayForum.district_court, "District court")],
)
def test_a_temporary_stay_expiry_is_in_the_feed(
    session: Session, forum: StayForum, label: str
) -> None:
    org = factories.org(session, NOW)
    attorney = factories.user(session, org, NOW)
    actor = factories.actor_for(attorney)
    held = world.facility(
        session, "Test Processing Center", office=world.field_office(session, "HOU")
    )
    case = factories.case(
        session,
        actor,
        NOW,
        given_name="Ana María",
        family_name="Pérez López",
        a_number="A-123-456-789",
        facility_id=held.id,
        attorney_id=attorney.id,
    )
    stay = request_service.create_request(
        session,
        actor,
        case,
        RequestCreate(kind="stay_of_removal", forum=forum, filed_at=NOW - 10 * H),
        NOW,
    )
    expiry = NOW + 50 * H
    request_service.record_determination(
        session,
        actor,
        stay,
        DeterminationIn(
            outcome="granted", decided_at=NOW - H, stay_expires_at=expiry, temporary=True
        ),
        NOW,
    )
    session.commit()
    cal = Calendar.from_ical(calendar.feed_for(session, attorney, NOW))
    [event] = [e for e in cal.walk("VEVENT") if e["categories"].cats[0] == "stay_expiring"]
    assert str(event["summary"]) == f"Temporary stay expires ({label}): Ana P. (ICE HOU)"
    assert event.decoded("dtstart") == expiry
    text = event.to_ical().decode()
    for secret in ("Pérez", "López", "123456789", "123-456"):
        assert secret not in text


def test_transfers_of_the_last_day_are_in_the_morning_digest(session: Session) -> None:
    start = SEVEN_IN_CHICAGO - 3 * 24 * H
    w = jobs_world(session, now=start)
    w.attorney.time_zone = "America/Chicago"
    case = new_case(session, w, now=start)
    far = world.facility(session, "Fictional Far Center", office=world.field_office(session, "SEA"))
    near = world.facility(
        session, "Fictional Near Center", office=world.field_office(session, "HOU")
    )
    moved = SEVEN_IN_CHICAGO - 10 * H
    custody_service.record_event(
        session,
        w.actor,
        case,
        CustodyEventIn(kind=CustodyEventKind.transferred, at=moved, facility_id=far.id),
        moved,
    )
    session.commit()
    assert send_digests(session, SEVEN_IN_CHICAGO) == 1
    session.commit()
    [digest] = sms(session, kind="digest")
    assert "1 transferred" in digest.body
    assert "Rosa" not in digest.body and "Fictitia" not in digest.body
    timeline = session.scalars(
        select(TimelineEvent.summary).where(
            TimelineEvent.case_id == case.id, TimelineEvent.kind == "custody_transferred"
        )
    ).all()
    [line] = timeline
    assert line.startswith("Transferred from Fictional Center to Fictional Far Center")
    # The next morning that transfer is old news; a new one is reported.
    assert send_digests(session, SEVEN_IN_CHICAGO + 24 * H) == 0
    later = SEVEN_IN_CHICAGO + 20 * H
    custody_service.record_event(
        session,
        w.actor,
        case,
        CustodyEventIn(kind=CustodyEventKind.transferred, at=later, facility_id=near.id),
        later,
    )
    session.commit()
    assert send_digests(session, SEVEN_IN_CHICAGO + 24 * H) == 1
    session.commit()
    newest = sms(session, kind="digest")[-1]
    assert "1 transferred" in newest.body
