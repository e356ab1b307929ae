"""The dispatcher's batching on a real SQLite file and a real PostgreSQL: claims sized to free
capacity, results written in batches (a failed batch neither lost nor doubled), threads
bounded by the concurrency."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import dispatcher as dispatcher_module
from notifications import outbox
from notifications.transports import LogTransport, Outgoing, SendResult
from tests.notifications import helpers
from tests.notifications.helpers import NOON, Clock, StandIn
from tracker import db
from tracker.models import Notification
from tracker.vocab import NotificationStatus


def _queue(session: Session, n: int) -> list[uuid.UUID]:
    """``n`` urgent counsel SMS, due now, each to its own number (so they go in parallel)."""
    w = helpers.world(session)
    ids = []
    for i in range(n):
        row = outbox.enqueue(
            session,
            organization_id=w.org.id,
            to_phone=f"+1202555{i:04d}",
            kind="removal_imminent",
            dedupe_key=f"batch-{i}",
            params={"first_name": "Ana", "rung": 24, "local_time": "Tue 10:00"},
            user_id=w.attorney.id,
            urgent=True,
            now=NOON,
        )
        assert row is not None
        ids.append(row)
    session.commit()
    return ids


def _statuses() -> dict[uuid.UUID, Notification]:
    with db.get_sessionmaker()() as fresh:
        rows = {r.id: r for r in fresh.scalars(select(Notification))}
        fresh.expunge_all()
    return rows


class SlowTransport(LogTransport):
    """Answers after ``delay`` like a provider would, noting how many sends overlap and on
    which threads they run."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self.sent: list[uuid.UUID] = []

    def send(self, message: Outgoing) -> SendResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.delay)
            return super().send(message)
        finally:
            with self.lock:
                self.running -= 1
                self.sent.append(message.notification_id)


def test_claim_size_is_the_free_capacity_once_it_is_a_quarter_of_the_bound(
    session: Session,
) -> None:
    d = helpers.dispatcher(LogTransport(), worker_concurrency=16, sender_rate_per_second=0)
    try:
        assert d.max_outstanding() == 32
        assert d.claim_size(0) == 32  # idle: take everything that is due
        assert d.claim_size(24) == 8  # a quarter free: claim it
        assert d.claim_size(25) == 0  # less: wait for more sends to finish
        assert d.claim_size(32) == 0
        # Throttled, the bound is what one sender can send within a third of the lease.
        t = helpers.dispatcher(
            LogTransport(), worker_concurrency=16, sender_rate_per_second=0.1, sms_lease_seconds=60
        )
        assert t.max_outstanding() == 2 and t.claim_size(1) == 1 and t.claim_size(2) == 0
        t.close()
    finally:
        d.close()


def test_claims_come_in_batches_sized_to_free_capacity_and_threads_stay_bounded(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _queue(session, 120)
    limits: list[int] = []
    real_claim = outbox.claim

    def spy(s: Session, worker: str, limit: int, *args: Any) -> list[outbox.Claimed]:
        limits.append(limit)
        return real_claim(s, worker, limit, *args)

    monkeypatch.setattr(outbox, "claim", spy)
    transport = SlowTransport(0.03)
    d = helpers.dispatcher(transport, worker_concurrency=8, sender_rate_per_second=0)
    before = threading.active_count()
    stats = d.run(once=True)
    d.close()
    assert sorted(transport.sent) == sorted(ids)  # each exactly once
    assert {r.status for r in _statuses().values()} == {NotificationStatus.sent}
    # Bound 16: after the first claim, each one waited for at least 4 free places.
    assert limits[0] == 16 and all(4 <= n <= 16 for n in limits)
    assert stats.claims == len(limits) <= 120 // 4 + 3
    # The sends overlapped up to the concurrency, never beyond, on that many threads.
    assert transport.most == 8
    assert len(transport.threads) <= 8
    assert all(name.startswith("sms-send") for name in transport.threads)
    assert threading.active_count() <= before  # the pool is gone after the run
    # Results were recorded many rows per commit.
    assert stats.result_rows == 120 and stats.result_batches < 120 // 3


def _claim_all(n: int, worker: str = "w1") -> list[outbox.Claimed]:
    with db.session_scope() as s:
        return outbox.claim(s, worker, n, NOON + timedelta(seconds=1), timedelta(seconds=60))


def _outcomes(rows: list[outbox.Claimed]) -> list[outbox.Outcome]:
    """One of each fate, round robin: sent, a retry, failed."""
    out = []
    for i, row in enumerate(rows):
        if i % 3 == 0:
            out.append(outbox.Outcome(row.id, NotificationStatus.sent, f"SM{i:032d}", "MGx"))
        elif i % 3 == 1:
            out.append(
                outbox.Outcome(
                    row.id,
                    NotificationStatus.queued,
                    next_attempt_at=NOON + timedelta(minutes=5),
                    code="20429",
                    message="attempt 1 of 3: Twilio 429",
                )
            )
        else:
            out.append(
                outbox.Outcome(row.id, NotificationStatus.failed, code="21408", message="no")
            )
    return out


def _assert_recorded(outcomes: list[outbox.Outcome]) -> None:
    rows = _statuses()
    for o in outcomes:
        row = rows[o.id]
        assert row.status is o.status, (row.status, o)
        assert row.claimed_by is None and row.claimed_until is None
        if o.status is NotificationStatus.sent:
            assert row.provider_sid == o.sid and row.sent_at is not None
        elif o.status is NotificationStatus.queued:
            assert row.next_attempt_at == NOON + timedelta(minutes=5)
            assert row.error_code == "20429" and row.attempts == 1
        else:
            assert row.error_code == "21408" and row.provider_sid is None


def test_results_of_every_kind_are_written_in_one_transaction(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(session, 30)
    rows = _claim_all(30)
    outcomes = _outcomes(rows)
    commits: list[int] = []
    writer = dispatcher_module.ResultWriter(
        db.get_sessionmaker(), Clock(), "w1", dispatcher_module.Stats(), linger=0.5
    )
    real = outbox.record_outcomes

    def counting(s: Session, worker: str, batch: list[outbox.Outcome], now: Any) -> None:
        commits.append(len(batch))
        real(s, worker, batch, now)

    monkeypatch.setattr(outbox, "record_outcomes", counting)
    for o in outcomes:
        writer.put(o)
    writer.flush_and_wait()
    writer.close()
    assert commits == [30]  # the linger let the batch fill: one transaction
    assert writer.stats.result_batches == 1 and writer.stats.result_rows == 30
    _assert_recorded(outcomes)


def test_a_batch_that_fails_to_commit_is_rolled_back_and_written_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(session, 12)
    rows = _claim_all(12)
    outcomes = _outcomes(rows)
    poison = outcomes[4].id
    attempts: list[list[uuid.UUID]] = []
    real = outbox.record_outcomes

    def flaky(s: Session, worker: str, batch: list[outbox.Outcome], now: Any) -> None:
        attempts.append([o.id for o in batch])
        # The statements run, then the commit is refused (a deadlock, a dropped connection):
        # everything the batch wrote must roll back.
        real(s, worker, batch, now)
        s.flush()
        if poison in attempts[-1] and sum(poison in a for a in attempts) <= 4:
            raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(outbox, "record_outcomes", flaky)
    stats = dispatcher_module.Stats()
    writer = dispatcher_module.ResultWriter(
        db.get_sessionmaker(), Clock(), "w1", stats, linger=0.5, retry_pause=0.01
    )
    for o in outcomes:
        writer.put(o)
    writer.flush_and_wait()
    # While the batch kept failing, nothing of it was half-written.
    writer.close()
    # Three whole-batch attempts, then row by row: the poison row failed once more alone,
    # then went through; every other row was written once on its own.
    assert attempts[:3] == [[o.id for o in outcomes]] * 3
    singles = attempts[3:]
    assert all(len(a) == 1 for a in singles)
    assert [a[0] for a in singles].count(poison) == 2
    assert sorted(a[0] for a in singles if a[0] != poison) == sorted(
        o.id for o in outcomes if o.id != poison
    )
    assert stats.result_rows == 12 and stats.unrecorded == 0
    _assert_recorded(outcomes)


def test_a_failed_result_write_neither_loses_nor_resends_an_sms(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _queue(session, 10)
    stand_in = StandIn()
    real = outbox.record_outcomes
    failures: list[int] = []

    def fails_twice(s: Session, worker: str, batch: list[outbox.Outcome], now: Any) -> None:
        real(s, worker, batch, now)
        if len(failures) < 2:
            failures.append(len(batch))
            raise RuntimeError("the database went away mid-commit")

    monkeypatch.setattr(outbox, "record_outcomes", fails_twice)
    clock = Clock()
    d = helpers.dispatcher(helpers.twilio_transport(stand_in), clock, worker_concurrency=4)
    stats = d.run(once=True)
    d.close()
    assert len(failures) == 2
    # Posted once each, and each row holds the id Twilio gave for it.
    callbacks = [f["StatusCallback"].rsplit("/", 1)[-1] for f in stand_in.forms]
    assert sorted(callbacks) == sorted(str(i) for i in ids)
    rows = _statuses()
    assert {r.status for r in rows.values()} == {NotificationStatus.sent}
    assert len({r.provider_sid for r in rows.values()}) == 10
    assert stats.sent == 10 and stats.result_rows == 10
    # Nothing is left for a later run (or another worker) to send again.
    clock.advance(seconds=d.settings.sms_lease_seconds + 1)
    d2 = helpers.dispatcher(helpers.twilio_transport(stand_in), clock)
    assert d2.run(once=True).claimed == 0
    d2.close()
    assert len(stand_in.forms) == 10


def test_a_retry_recorded_by_the_batch_wakes_the_sleeping_worker(session: Session) -> None:
    """The retry's due time is written after the send finished (batched): the worker, already
    asleep for its 30 s safety poll, must still be woken to send it when it falls due."""
    (row_id,) = _queue(session, 1)
    stand_in = StandIn()
    stand_in.fail_next(429, 20429, "Too Many Requests")
    d = helpers.dispatcher(
        helpers.twilio_transport(stand_in),
        clock=lambda: datetime.now(UTC),
        worker_poll_seconds=30.0,
        sms_retry_base_seconds=0.4,
        sms_retry_max_seconds=0.4,
    )
    thread = threading.Thread(target=d.run)
    thread.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 10:
            if _statuses()[row_id].status is NotificationStatus.sent:
                break
            time.sleep(0.05)
        assert _statuses()[row_id].status is NotificationStatus.sent
        assert time.monotonic() - started < 5  # not the 30 s poll
        assert len(stand_in.forms) == 2
    finally:
        d.stop()
        thread.join(timeout=10)
        d.close()
    assert not thread.is_alive()
