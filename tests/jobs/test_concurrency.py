"""Several clocks at once (a standby started by mistake, a deploy overlap): each alert once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.sweeps import SweepOutcome, counts, sweep_all
from tests.jobs.world import ONCALL, T0, new_case, world
from tracker import db
from tracker.models import Alert, Notification
from tracker.schemas import DeterminationIn, RequestCreate
from tracker.services import requests as request_service
from tracker.vocab import RequestKind

H = timedelta(hours=1)
CLOCKS = 4


def _race(now: datetime) -> list[list[SweepOutcome]]:
    """Every sweep at ``now`` by CLOCKS clocks at once, each on its own engine."""
    engines = [db.make_engine(db.get_settings().database_url, pool_size=2) for _ in range(CLOCKS)]
    start = threading.Barrier(CLOCKS)
    results: list[list[SweepOutcome]] = []
    errors: list[BaseException] = []

    def clock(i: int) -> None:
        factory = db.make_sessionmaker(engines[i], db.get_settings())
        try:
            start.wait()
            results.append(sweep_all(now, factory))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=clock, args=(i,)) for i in range(CLOCKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert not errors, errors
    assert all(o.failed_chunks == 0 for run in results for o in run)
    return results


def test_four_concurrent_clocks_raise_every_alert_exactly_once(
    session: Session, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    w = world(session)
    # Written as an import would (no service call, so no event-driven alert): only the
    # sweeps can find these, and all four clocks find the same ones.
    cases = []
    for i in range(12):
        case = new_case(session, w)
        case.removal_scheduled_at = T0 + (2 + 5 * i) * H  # rungs 6, 24 and 72
        cases.append(case)
    for case in cases[:6]:
        request = request_service.create_request(
            session,
            w.actor,
            case,
            RequestCreate(kind=RequestKind.release, filed_at=T0 - timedelta(days=20)),
            T0 - timedelta(days=20),
        )
        request_service.record_determination(
            session,
            w.actor,
            request,
            DeterminationIn(outcome="denied", decided_at=T0 - timedelta(days=5)),
            T0 - timedelta(days=5),
        )
    for case in cases[6:]:
        request_service.create_request(
            session,
            w.actor,
            case,
            RequestCreate(
                kind=RequestKind.prosecutorial_discretion, filed_at=T0 - timedelta(days=15)
            ),
            T0 - timedelta(days=15),
        )
    # The writes above ran the rules at their own (past) times; nothing is alerted yet.
    session.commit()
    assert session.scalar(select(func.count()).select_from(Alert)) == 0

    results = _race(T0)
    # They really raced: several clocks saw the same candidates before any had committed.
    saw = [sum(o.candidates for o in run) for run in results]
    assert sum(1 for n in saw if n > 0) >= 2, saw

    expected = {"removal_imminent": 12, "documentation_overdue": 6, "unanswered": 6}
    total: Counter[str] = Counter()
    for run in results:
        total.update(counts(run))
    # Across the four clocks, every alert was raised by exactly one of them.
    assert dict(total) == expected
    session.expire_all()
    stored = Counter(session.scalars(select(Alert.kind)))
    assert dict(stored) == expected
    keys = list(session.scalars(select(Alert.dedupe_key)))
    assert len(keys) == len(set(keys))
    # Two SMS per alert (counsel contact and attorney), never four or eight.
    per_alert = Counter(
        session.scalars(select(Notification.alert_id).where(Notification.alert_id.is_not(None)))
    )
    assert set(per_alert.values()) == {2} and len(per_alert) == sum(expected.values())
    # And the next run of any clock finds nothing new.
    assert counts(sweep_all(T0 + timedelta(seconds=15))) == {}


def test_four_concurrent_clocks_escalate_every_alert_exactly_once(
    session: Session, backend: str
) -> None:
    """Escalations are claimed in one batch per chunk: racing clocks still text the hotline
    once per alert, and never deadlock on each other's claims."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    w = world(session)
    cases = []
    for i in range(12):
        case = new_case(session, w)
        # All on the tightest rung, so no new rung falls due before the escalations.
        case.removal_scheduled_at = T0 + 2 * H + i * timedelta(minutes=10)
        cases.append(case)
    session.commit()
    assert counts(sweep_all(T0)) == {"removal_imminent": 12}

    results = _race(T0 + timedelta(minutes=w.org.escalation_delay_minutes))

    # They really raced: several clocks found the same alerts to escalate.
    saw = [o.candidates for run in results for o in run if o.name == "escalation"]
    assert sum(1 for n in saw if n > 0) >= 2, saw
    escalated = Counter(
        alert_id
        for run in results
        for o in run
        if o.name == "escalation"
        for alert_id in o.alert_ids
    )
    assert len(escalated) == 12 and set(escalated.values()) == {1}
    session.expire_all()
    assert all(a.escalated_at is not None for a in session.scalars(select(Alert)))
    texts = list(session.scalars(select(Notification).where(Notification.kind == "escalation")))
    assert len(texts) == 12 and {t.alert_id for t in texts} == set(escalated)
    assert {t.to_phone for t in texts} == {ONCALL}
