"""The dispatcher on a real SQLite file and a real PostgreSQL, Twilio played by a stand-in."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import outbox
from notifications.events import notify_family
from notifications.transports import LogTransport, Outgoing
from tests.notifications import helpers
from tests.notifications.helpers import NOON, Clock, StandIn
from tracker import db
from tracker.models import Contact, Notification
from tracker.vocab import NotificationStatus

T = TypeVar("T")


def _rows(session: Session) -> list[Notification]:
    """Fresh rows, detached, with the read transaction closed (SQLite's BEGIN IMMEDIATE
    would otherwise hold the write lock against the dispatcher)."""
    if session.in_transaction():
        session.commit()
    with db.get_sessionmaker()() as fresh:
        rows = list(fresh.scalars(select(Notification).order_by(Notification.created_at)))
        fresh.expunge_all()
    return rows


def _fresh(model: type[T], ident: object) -> T:
    with db.get_sessionmaker()() as fresh:
        obj = fresh.get(model, ident)
        assert obj is not None
        fresh.expunge(obj)
    return obj


def _family_event(session: Session, w: helpers.World, kind: str = "request_filed") -> None:
    notify_family(session, w.case, kind, "r1", NOON, {"request_kind": "stay_of_removal"})
    session.commit()


def test_log_transport_sends_introduction_first_and_records_sids(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w)
    stats = helpers.dispatcher(LogTransport()).run(once=True)
    rows = _rows(session)
    assert [r.kind for r in rows] == ["introduction", "request_filed"]
    assert all(r.status is NotificationStatus.sent and r.provider_sid for r in rows)
    assert rows[0].sent_at is not None and rows[1].sent_at is not None
    assert rows[0].sent_at <= rows[1].sent_at
    assert stats.sent == 2 and stats.claimed == 2
    assert "Ana" in rows[1].body and "Pérez" not in rows[1].body


def test_twilio_form_names_the_notification_and_sender(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w)
    stand_in = StandIn()
    helpers.dispatcher(helpers.twilio_transport(stand_in)).run(once=True)
    rows = _rows(session)
    assert len(stand_in.forms) == 2
    by_url = {f["StatusCallback"]: f for f in stand_in.forms}
    for row in rows:
        form = by_url[f"http://testserver/webhooks/twilio/status/{row.id}"]
        assert form["To"] == w.family.phone
        assert form["Body"] == row.body
        assert form["MessagingServiceSid"] == helpers.MESSAGING_SERVICE_SID
        assert "From" not in form
        assert row.provider_sid and row.provider_sid.startswith("SM")
        assert row.sender == helpers.MESSAGING_SERVICE_SID
    assert stand_in.paths[0] == f"/twilio/2010-04-01/Accounts/{helpers.ACCOUNT_SID}/Messages.json"


def test_429_is_retried_with_backoff_then_sent(session: Session) -> None:
    w = helpers.world(session)
    outbox.enqueue(
        session,
        organization_id=w.org.id,
        to_phone=w.attorney.phone or "",
        kind="removal_imminent",
        dedupe_key="a1",
        params={"first_name": "Ana", "rung": 24, "local_time": "Tue 10:00"},
        user_id=w.attorney.id,
        urgent=True,
        now=NOON,
    )
    session.commit()
    stand_in = StandIn()
    stand_in.fail_next(429, 20429, "Too Many Requests", **{"Retry-After": "30"})
    clock = Clock()
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock)
    d.run(once=True)
    (row,) = _rows(session)
    assert row.status is NotificationStatus.queued
    assert row.error_code == "20429" and "attempt 1 of 3" in (row.error_message or "")
    assert row.next_attempt_at >= NOON + timedelta(seconds=30)
    assert row.claimed_by is None
    clock.advance(seconds=700)
    d.run(once=True)
    (row,) = _rows(session)
    assert row.status is NotificationStatus.sent and row.attempts == 2
    assert row.error_code is None
    assert len(stand_in.forms) == 2


def test_5xx_gives_up_after_max_attempts_with_the_reason(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    stand_in = StandIn()
    for _ in range(6):
        stand_in.fail_next(503, None, "Service Unavailable")
    clock = Clock()
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock, sms_max_attempts=3)
    for _ in range(4):
        d.run(once=True)
        clock.advance(seconds=700)
    rows = _rows(session)
    assert {r.status for r in rows} == {NotificationStatus.failed}
    assert all("gave up after 3 attempts" in (r.error_message or "") for r in rows)
    assert all(r.attempts == 3 for r in rows)


def test_21610_opts_the_contact_out_and_suppresses_what_waits(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w)
    stand_in = StandIn()
    stand_in.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    helpers.dispatcher(helpers.twilio_transport(stand_in), worker_concurrency=1).run(once=True)
    rows = _rows(session)
    assert rows[0].status is NotificationStatus.failed and rows[0].error_code == "21610"
    assert rows[1].status is NotificationStatus.suppressed
    assert len(stand_in.forms) == 1
    contact = _fresh(Contact, w.family.id)
    assert contact.opted_out_at is not None


def test_invalid_number_marks_the_contact_unreachable(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    stand_in = StandIn()
    stand_in.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    stand_in.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    helpers.dispatcher(helpers.twilio_transport(stand_in), worker_concurrency=1).run(once=True)
    assert {r.status for r in _rows(session)} == {NotificationStatus.failed}
    contact = _fresh(Contact, w.family.id)
    assert contact.unreachable and contact.unreachable_since


def test_opt_out_after_queueing_is_honoured_at_send_time(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w)
    contact = session.get(Contact, w.family.id)
    assert contact is not None
    contact.opted_out_at = NOON
    session.commit()
    stand_in = StandIn()
    stats = helpers.dispatcher(helpers.twilio_transport(stand_in)).run(once=True)
    assert stand_in.forms == []
    assert {r.status for r in _rows(session)} == {NotificationStatus.suppressed}
    assert stats.suppressed == 2


def test_a_crashed_workers_rows_are_taken_over_after_the_lease(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    with db.session_scope() as s:
        taken = outbox.claim(s, "dead-worker", 10, Clock().now, timedelta(seconds=60))
    assert len(taken) == 2
    stand_in = StandIn()
    clock = Clock()
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock)
    d.run(once=True)
    assert stand_in.forms == []  # the lease still holds
    clock.advance(seconds=61)
    d.run(once=True)
    rows = _rows(session)
    assert {r.status for r in rows} == {NotificationStatus.sent}
    assert len(stand_in.forms) == 2 and all(r.attempts == 2 for r in rows)


def test_family_messages_wait_out_quiet_hours_and_counsel_alerts_do_not(session: Session) -> None:
    # 23:30 in Chicago (facility zone): quiet for the family, not for counsel.
    late = datetime(2026, 3, 11, 5, 30, tzinfo=UTC)
    w = helpers.world(session, late, time_zone="America/Chicago")
    w.org.quiet_hours = "21:00-08:00"  # the organisation's own window (tests set QUIET_HOURS=off)
    notify_family(session, w.case, "released", "x", late)
    outbox.enqueue(
        session,
        organization_id=w.org.id,
        to_phone=w.attorney.phone or "",
        kind="removal_imminent",
        dedupe_key="urgent",
        params={"first_name": "Ana", "rung": 6},
        user_id=w.attorney.id,
        urgent=True,
        now=late,
    )
    session.commit()
    morning = datetime(2026, 3, 11, 13, 0, tzinfo=UTC)  # 08:00 CDT
    rows = {r.kind: r for r in _rows(session)}
    assert rows["released"].next_attempt_at == morning
    assert rows["removal_imminent"].next_attempt_at == late
    clock = Clock(late)
    helpers.dispatcher(LogTransport(), clock).run(once=True)
    rows = {r.kind: r for r in _rows(session)}
    assert rows["removal_imminent"].status is NotificationStatus.sent
    assert rows["released"].status is NotificationStatus.queued
    clock.now = morning
    helpers.dispatcher(LogTransport(), clock).run(once=True)
    assert {r.status for r in _rows(session)} == {NotificationStatus.sent}


def test_quiet_hours_are_rechecked_at_send_time(session: Session) -> None:
    w = helpers.world(session, time_zone="America/New_York")
    _family_event(session, w, "released")
    night = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)  # 23:00 EDT
    stats = helpers.dispatcher(LogTransport(), Clock(night)).run(once=True)
    assert stats.deferred == 2 and stats.sent == 0
    rows = _rows(session)
    assert {r.status for r in rows} == {NotificationStatus.queued}
    assert {r.next_attempt_at for r in rows} == {datetime(2026, 3, 11, 12, 0, tzinfo=UTC)}
    assert all(r.attempts == 0 for r in rows)


def test_organisation_can_turn_quiet_hours_off(session: Session) -> None:
    w = helpers.world(session, time_zone="America/New_York")
    w.org.quiet_hours = "off"
    _family_event(session, w, "released")
    night = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    stats = helpers.dispatcher(LogTransport(), Clock(night)).run(once=True)
    assert stats.sent == 2


def test_worker_picks_up_a_new_row_within_two_seconds_and_stops_cleanly(session: Session) -> None:
    w = helpers.world(session)
    w.family.introduced_at = NOON  # one row, due at once
    # The real clock: between 21:00 and 08:00 in the organisation's zone the family text
    # would wait for morning (quiet hours, tested above), and this test would fail by night.
    w.org.quiet_hours = "off"
    session.commit()
    d = helpers.dispatcher(LogTransport(), clock=lambda: datetime.now(UTC), worker_poll_seconds=1.0)
    thread = threading.Thread(target=d.run)
    thread.start()
    try:
        time.sleep(0.3)
        notify_family(session, w.case, "released", "live", datetime.now(UTC))
        session.commit()
        queued_at = time.monotonic()
        while time.monotonic() - queued_at < 5:
            if {r.status for r in _rows(session)} == {NotificationStatus.sent}:
                break
            time.sleep(0.05)
        assert time.monotonic() - queued_at < 2.0
    finally:
        d.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _posted_by_a_dead_worker(stand_in: StandIn, row: outbox.Claimed) -> str:
    """What a worker killed after its POST left behind at Twilio: the message, unrecorded."""
    transport = helpers.twilio_transport(stand_in)
    try:
        return transport.send(Outgoing(row.id, row.to_phone, row.body, row.kind)).sid
    finally:
        transport.close()


def test_a_retaken_row_already_posted_is_adopted_not_sent_again(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    clock = Clock()
    with db.session_scope() as s:
        taken = outbox.claim(s, "dead-worker", 10, clock.now, timedelta(seconds=60))
    assert len(taken) == 2 and all(r.retaken_since is None for r in taken)
    stand_in = StandIn(clock=clock)
    clock.advance(seconds=1)
    # A message with the same body to the same number before the claim: not ours to adopt.
    early = dataclasses.replace(taken[1], id=uuid.uuid4())
    stand_in.clock = lambda: NOON - timedelta(hours=1)
    _posted_by_a_dead_worker(stand_in, early)
    stand_in.clock = clock
    posted_sid = _posted_by_a_dead_worker(stand_in, taken[1])
    clock.advance(seconds=61)
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock)
    stats = d.run(once=True)
    rows = {r.id: r for r in _rows(session)}
    assert {r.status for r in rows.values()} == {NotificationStatus.sent}
    assert rows[taken[1].id].provider_sid == posted_sid
    # Two POSTs by the dead worker's stand-ins, one by the new worker: nothing twice.
    assert [f["Body"] for f in stand_in.forms].count(taken[1].body) == 2
    assert [f["Body"] for f in stand_in.forms].count(taken[0].body) == 1
    assert stats.adopted == 1 and stats.sent == 1
    # The list was asked as Twilio documents it: by recipient, sent since the old lease.
    assert stand_in.lists and all(q["To"] == taken[0].to_phone for q in stand_in.lists)
    assert all("DateSent>" in q for q in stand_in.lists)


def test_identical_bodies_to_one_number_are_adopted_one_to_one(session: Session) -> None:
    w = helpers.world(session)
    for key in ("same-1", "same-2", "same-3"):
        outbox.enqueue(
            session,
            organization_id=w.org.id,
            to_phone=w.attorney.phone or "",
            kind="removal_imminent",
            dedupe_key=key,
            params={"first_name": "Ana", "rung": 6},
            user_id=w.attorney.id,
            urgent=True,
            now=NOON,
        )
    session.commit()
    clock = Clock()
    with db.session_scope() as s:
        taken = outbox.claim(s, "dead-worker", 10, clock.now, timedelta(seconds=60))
    assert len(taken) == 3 and len({r.body for r in taken}) == 1
    stand_in = StandIn(clock=clock)
    # The dead worker had posted two of the three identical messages.
    first = _posted_by_a_dead_worker(stand_in, taken[0])
    clock.advance(seconds=1)
    second = _posted_by_a_dead_worker(stand_in, taken[1])
    clock.advance(seconds=61)
    stats = helpers.dispatcher(helpers.twilio_transport(stand_in), clock).run(once=True)
    rows = _rows(session)
    assert {r.status for r in rows} == {NotificationStatus.sent}
    assert len(stand_in.forms) == 3  # two by the dead worker, one (the missing one) now
    assert stats.adopted == 2 and stats.sent == 1
    sids = [r.provider_sid for r in rows]
    assert len(set(sids)) == 3 and {first, second} <= set(sids)


def test_the_log_transport_cannot_adopt(session: Session) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    clock = Clock()
    with db.session_scope() as s:
        outbox.claim(s, "dead-worker", 10, clock.now, timedelta(seconds=60))
    clock.advance(seconds=61)
    stats = helpers.dispatcher(LogTransport(), clock).run(once=True)
    assert stats.adopted == 0 and stats.sent == 2


def test_a_row_whose_own_lease_ran_out_unrecorded_is_not_posted_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = helpers.world(session)
    _family_event(session, w, "released")
    stand_in = StandIn()
    clock = Clock()
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock)
    rows = d.claim(10)
    assert len(rows) == 2
    lost: list[object] = []
    # The database is too slow to record the sends before the lease runs out.
    monkeypatch.setattr(d.writer, "put", lost.append)
    d.send_group(rows)
    assert len(stand_in.forms) == 2 and len(lost) == 2
    monkeypatch.undo()
    clock.advance(seconds=d.settings.sms_lease_seconds + 1)
    stats = d.run(once=True)
    assert len(stand_in.forms) == 2  # nothing posted twice
    assert stats.adopted == 2
    assert {r.status for r in _rows(session)} == {NotificationStatus.sent}
