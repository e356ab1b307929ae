"""Attorney calendar feeds: parsed back with icalendar, times from the rules, secret URLs."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlalchemy.orm import Session

from tests import factories, world
from tests.world import NOW
from tracker import calendar, rules
from tracker.schemas import DeterminationIn, RequestCreate
from tracker.services import requests as request_service


def _events(ics: bytes) -> dict[str, dict[str, object]]:
    cal = Calendar.from_ical(ics)
    return {
        str(e["categories"].cats[0]): {
            "summary": str(e["summary"]),
            "start": e.decoded("dtstart"),
            "tzid": e["dtstart"].params.get("TZID"),
            "alarms": sorted(a.decoded("trigger") for a in e.walk("VALARM")),
            "text": e.to_ical().decode(),
        }
        for e in cal.walk("VEVENT")
    }


def test_feed_carries_rule_deadlines_in_the_facility_zone(session: Session) -> None:
    org = factories.org(session, NOW)
    attorney = factories.user(session, org, NOW)
    actor = factories.actor_for(attorney)
    office = world.field_office(session, "HOU")
    facility = world.facility(session, "Test Processing Center", office=office)
    removal = NOW + timedelta(days=2)
    case = factories.case(
        session,
        actor,
        NOW,
        given_name="Ana María",
        family_name="Pérez López",
        a_number="A-123-456-789",
        facility_id=facility.id,
        removal_scheduled_at=removal,
        attorney_id=attorney.id,
    )
    decided = request_service.create_request(
        session, actor, case, RequestCreate(kind="release", filed_at=NOW - timedelta(days=3)), NOW
    )
    request_service.record_determination(
        session,
        actor,
        decided,
        DeterminationIn(outcome="denied", decided_at=NOW - timedelta(hours=5)),
        NOW,
    )
    pending = request_service.create_request(
        session,
        actor,
        case,
        RequestCreate(kind="prosecutorial_discretion", filed_at=NOW - timedelta(days=1)),
        NOW,
    )
    stay = request_service.create_request(
        session,
        actor,
        case,
        RequestCreate(kind="stay_of_removal", filed_at=NOW - timedelta(days=2)),
        NOW,
    )
    expiry = NOW + timedelta(days=40)
    request_service.record_determination(
        session,
        actor,
        stay,
        DeterminationIn(
            outcome="granted", decided_at=NOW - timedelta(days=1), stay_expires_at=expiry
        ),
        NOW,
    )
    # Someone else's client never appears.
    other = factories.user(session, org, NOW)
    factories.case(
        session, actor, NOW, given_name="Other", removal_scheduled_at=removal, attorney_id=other.id
    )
    session.commit()

    ics = calendar.feed_for(session, attorney, NOW)
    events = _events(ics)
    policy = rules.Policy()
    assert set(events) == {"documentation_due", "unanswered", "stay_expiring"}
    # The granted stay (expiring in 40 days) blocks the removal; it shows as its expiry.
    doc = events["documentation_due"]
    assert doc["start"] == NOW - timedelta(hours=5) + rules.DOCUMENTATION_WINDOW
    assert doc["tzid"] == "America/Chicago"
    assert doc["alarms"] == [timedelta(hours=-12), timedelta(0)]
    unanswered = events["unanswered"]
    assert unanswered["start"] == pending.filed_at + policy.unanswered_after(
        "prosecutorial_discretion"
    )  # type: ignore[operator]
    stay_event = events["stay_expiring"]
    assert stay_event["start"] == expiry
    assert stay_event["alarms"] == [timedelta(hours=-72), timedelta(hours=-24), timedelta(hours=-6)]
    for event in events.values():
        text = str(event["text"])
        assert "Ana P." in str(event["summary"])
        for secret in ("Pérez", "López", "123456789", "123-456"):
            assert secret not in text
        assert "Other" not in text
    cal = Calendar.from_ical(ics)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/Chicago"]
    session.commit()


def test_removal_event_without_a_stay(session: Session) -> None:
    org = factories.org(session, NOW)
    attorney = factories.user(session, org, NOW)
    actor = factories.actor_for(attorney)
    removal = NOW + timedelta(hours=30)
    factories.case(
        session,
        actor,
        NOW,
        given_name="Luis",
        removal_scheduled_at=removal,
        attorney_id=attorney.id,
    )
    session.commit()
    events = _events(calendar.feed_for(session, attorney, NOW))
    assert set(events) == {"removal_imminent"}
    assert events["removal_imminent"]["start"] == removal
    # No facility or office: the organisation's zone.
    assert events["removal_imminent"]["tzid"] == "America/New_York"
    assert events["removal_imminent"]["summary"] == "Removal scheduled: Luis"
