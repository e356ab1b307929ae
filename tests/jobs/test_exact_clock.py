"""The exact-time clock and the woken worker: an alert leaves when it falls due, not an
interval later; a queued SMS leaves at once, not a poll later.

The intervals are set far above the bounds asserted (120 s sweeps, 30 s worker poll) so that
only the wake-ups can meet them; the bounds themselves are generous for a loaded machine.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jobs import clock
from jobs.next_due import next_due
from jobs.sweeps import PolicyGroups
from notifications import dispatcher, outbox
from tests import factories
from tests.jobs.world import world
from tracker import db, wakeups
from tracker.models import Alert, Notification, Request
from tracker.services.delivery import REACTIONS
from tracker.settings import Settings, get_settings
from tracker.types import utcnow
from tracker.vocab import FlagKind, NotificationStatus, RequestKind, RequestStatus

SLOW_SWEEPS = 120.0
SLOW_POLL = 30.0
# Well under either interval, generous for two cores shared by several test runs.
BOUND = 12.0


def _settings(**overrides: object) -> Settings:
    return dataclasses.replace(
        get_settings(),
        sweep_interval_seconds=SLOW_SWEEPS,
        worker_poll_seconds=SLOW_POLL,
        sms_transport="log",
        quiet_hours="off",
        **overrides,  # type: ignore[arg-type]
    )


def _wait(condition: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _count(model: type, *where: object) -> int:
    with db.get_sessionmaker()() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_next_due_finds_the_next_rung_decision_window_and_filing(session: Session) -> None:
    now = utcnow()
    w = world(session, now)
    removal = now + timedelta(hours=200)
    # At a facility: a case opened nowhere would first fall due as whereabouts unknown (24 h).
    case = factories.case(
        session, w.actor, now, attorney_id=w.attorney.id, facility_id=w.facility.id
    )
    case.removal_scheduled_at = removal
    session.commit()
    groups = PolicyGroups.load(session)
    assert next_due(session, groups, now) == removal - timedelta(hours=72)
    # Past the 72 h rung the next moment is the 24 h rung.
    later = removal - timedelta(hours=50)
    assert next_due(session, groups, later) == removal - timedelta(hours=24)
    # A request decided an hour ago: its documentation window closes in 47 h, first.
    session.add(
        Request(
            case_id=case.id,
            kind=RequestKind.release,
            status=RequestStatus.denied,
            filed_at=now - timedelta(days=3),
            decided_at=now - timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()
    due = next_due(session, PolicyGroups.load(session), now)
    assert due is not None
    assert abs(due - (now + timedelta(hours=47))) < timedelta(seconds=1)


def test_a_deadline_written_while_the_clock_runs_is_alerted_at_once(session: Session) -> None:
    now = utcnow()
    w = world(session, now)
    session.commit()
    # Two clocks, as by mistake: each alert is still raised (and queued) once.
    stops = [clock.start_in_background(_settings()) for _ in range(2)]
    try:
        time.sleep(1.0)  # their start-up sweeps are done; the next interval is 120 s away
        due_in = 3.0
        case = factories.case(
            session,
            w.actor,
            utcnow(),
            attorney_id=w.attorney.id,
            removal_scheduled_at=utcnow() + timedelta(hours=72, seconds=due_in),
        )
        session.commit()
        assert _count(Alert, Alert.case_id == case.id) == 0  # not due yet
        waited = _wait(lambda: _count(Alert, Alert.case_id == case.id) > 0, due_in + BOUND)
        assert waited >= due_in - 0.5, "raised before it fell due"
        print(f"\nexact clock: alert raised {waited:.2f} s after the write, due at {due_in} s")
        time.sleep(1.0)  # the other clock's sweep, had it raised a second one
    finally:
        for stop in stops:
            stop()
    alerts = _count(Alert, Alert.case_id == case.id, Alert.kind == FlagKind.removal_imminent)
    assert alerts == 1
    assert _count(Notification, Notification.alert_id.is_not(None)) == 1


def test_a_queued_sms_wakes_the_worker(session: Session) -> None:
    now = utcnow()
    w = world(session, now)
    session.commit()
    stop = dispatcher.start_in_background(_settings(), REACTIONS)
    try:
        time.sleep(1.0)  # the worker is idle, sleeping on its 30 s safety poll
        outbox.enqueue(
            session,
            organization_id=w.org.id,
            to_phone=w.attorney.phone or "",
            kind="removal_imminent",
            dedupe_key="wake-the-worker",
            params={"first_name": "Ana", "rung": 6},
            user_id=w.attorney.id,
            urgent=True,
            now=utcnow(),
        )
        session.commit()
        _wait(lambda: _count(Notification, Notification.status == NotificationStatus.sent), BOUND)
        # A retry due in 2 s: the worker sleeps until then, not until its poll.
        outbox.enqueue(
            session,
            organization_id=w.org.id,
            to_phone=w.attorney.phone or "",
            kind="removal_imminent",
            dedupe_key="due-in-two-seconds",
            params={"first_name": "Ana", "rung": 24},
            user_id=w.attorney.id,
            urgent=True,
            not_before=utcnow() + timedelta(seconds=2),
            now=utcnow(),
        )
        session.commit()
        waited = _wait(
            lambda: _count(Notification, Notification.status == NotificationStatus.sent) == 2,
            2 + BOUND,
        )
        assert waited >= 1.5, "sent before it was due"
        print(f"\nworker: a retry due in 2 s sent after {waited:.2f} s (poll {SLOW_POLL} s)")
    finally:
        stop()


def test_a_rolled_back_write_wakes_nobody_and_a_committed_one_does(session: Session) -> None:
    waiter = wakeups.SIGNALS[wakeups.OUTBOX].waiter()
    try:
        wakeups.mark(session, wakeups.OUTBOX)
        session.rollback()
        assert not waiter.is_set()
        wakeups.mark(session, wakeups.OUTBOX)
        session.commit()
        assert waiter.is_set()
    finally:
        wakeups.SIGNALS[wakeups.OUTBOX].forget(waiter)


def test_notify_from_another_process_wakes_the_listener(db_url: str, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite has one process")
    waiter = wakeups.SIGNALS[wakeups.CLOCK].waiter()
    stop = wakeups.listen(db_url, [wakeups.CLOCK])
    try:
        time.sleep(1.0)  # listening
        waiter.clear()  # the wake-up given at (re)connect
        conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(False)
        # Another process's transaction, as a web worker's would be: delivered on commit.
        with psycopg.connect(conninfo) as other:
            other.execute("SELECT pg_notify('amparo_clock', '')")
            time.sleep(0.5)
            assert not waiter.is_set(), "delivered before the commit"
        assert waiter.wait(BOUND)
    finally:
        stop()
        wakeups.SIGNALS[wakeups.CLOCK].forget(waiter)
