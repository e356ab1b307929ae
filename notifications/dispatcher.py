"""The outbox dispatcher: claim due rows with a lease, send them concurrently, record each fate.

A row is marked sent only after the provider accepted it, so a worker killed mid-send leaves
rows that another worker retakes when the lease runs out (a lost removal alert is the failure
we refuse). Before such a retaken row is posted again, the provider's message list for that
recipient is read and a message created since the dead worker's lease began, from our sender,
with exactly this row's body, is adopted instead of a second send (identical bodies to one
number are matched one to one, oldest first). That makes the crash exactly-once with Twilio;
the ``log`` transport keeps no list, so there a retaken row is logged again.

The loop sleeps until a row is queued (``tracker.wakeups``: in-process after commit, NOTIFY
on PostgreSQL) or the next ``next_attempt_at`` or lease expiry, with ``WORKER_POLL_SECONDS``
as a safety poll only.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import random
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from notifications import outbox, quiet
from notifications.outbox import Claimed
from notifications.throttle import SenderThrottle
from notifications.transports import Transport, TransportError, make_transport
from tracker import db, wakeups
from tracker.models import Case, Contact, Heartbeat, Notification, User
from tracker.settings import Settings
from tracker.types import utcnow
from tracker.vocab import NotificationStatus

log = logging.getLogger("amparo.sms.dispatcher")

HEARTBEAT_PREFIX = "worker:"
HEARTBEAT_SECONDS = 10.0
RECHECK_AFTER_SECONDS = 1.0
# Clock skew allowed between this host and the provider when adopting a crashed worker's send.
ADOPTION_SKEW = timedelta(minutes=2)
# Provider ids this worker posted or adopted, remembered so that a retaken row never adopts
# a message another row of ours produced (recorded ones are also checked in the database).
KNOWN_SIDS_KEPT = 50_000


class DeliveryReactions(Protocol):
    """What a refused send does to its contact: a state change, so it lives above this
    library (``tracker.services.delivery.REACTIONS``); the entry point hands it in."""

    def opted_out(self, session: Session, contact_id: uuid.UUID, now: datetime) -> None:
        """The carrier says the number replied STOP (Twilio 21610)."""

    def bad_number(
        self,
        session: Session,
        contact_id: uuid.UUID,
        now: datetime,
        notification_id: uuid.UUID | None = None,
    ) -> None:
        """The number cannot receive SMS at all (``notification_id``: the refused row)."""


# How long the result writer waits for a batch to fill after its first result: at several
# hundred sends a second, tens of rows per commit instead of one or two.
RESULT_LINGER_SECONDS = 0.025
RESULT_BATCH_MAX = 500
# A batch that failed this often is written row by row, so that one row the database refuses
# cannot hold back the others; a single row is retried this often before it is left to the
# lease (see ``ResultWriter._flush``).
SPLIT_AFTER_ATTEMPTS = 3
ROW_ATTEMPTS = 20


class ResultWriter:
    """Records what became of each send in batches: the first result waits up to
    ``linger`` for others, then all go in one transaction (SQLite has one writer; PostgreSQL
    has a connection limit). A batch that fails to commit is rolled back whole and written
    again, so results are neither lost nor half-recorded. A row that still cannot be recorded
    after ``ROW_ATTEMPTS`` stays ``sending`` under this worker's lease: when the lease runs out
    it is retaken, and a send that went out is adopted (this worker remembers its provider id;
    another finds it in Twilio's list) instead of being posted again."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        worker_id: str,
        stats: Stats,
        *,
        batch: int = RESULT_BATCH_MAX,
        linger: float = RESULT_LINGER_SECONDS,
        retry_pause: float = 0.2,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.worker_id = worker_id
        self.stats = stats
        self.batch = batch
        self.linger = linger
        self.retry_pause = retry_pause
        self.queue: queue.Queue[outbox.Outcome | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="sms-results", daemon=True)
        self.thread.start()

    def put(self, item: outbox.Outcome) -> None:
        self.queue.put(item)

    def _run(self) -> None:
        done = False
        while not done:
            item = self.queue.get()
            taken = 1
            pending: list[outbox.Outcome] = []
            if item is not None and self.linger > 0:
                # Sleep, then take what came: not woken by every result (a thread switch
                # per SMS at several hundred a second).
                time.sleep(self.linger)
            while True:
                if item is None:
                    done = True
                    break
                pending.append(item)
                if len(pending) >= self.batch:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
            try:
                if pending:
                    self._flush(pending)
            finally:
                for _ in range(taken):
                    self.queue.task_done()

    def _write(self, pending: list[outbox.Outcome]) -> None:
        with db.session_scope(self.sessions) as session:
            outbox.record_outcomes(session, self.worker_id, pending, self.clock())

    def _flush(self, pending: list[outbox.Outcome]) -> None:
        attempts = SPLIT_AFTER_ATTEMPTS if len(pending) > 1 else ROW_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                self._write(pending)
            except Exception:  # the database blinked: the batch rolled back whole; again
                log.exception("recording %d SMS results failed (attempt %d)", len(pending), attempt)
                time.sleep(min(5.0, self.retry_pause * 2 ** (attempt - 1)))
                continue
            self.stats.add("result_batches")
            self.stats.add("result_rows", len(pending))
            return
        if len(pending) > 1:
            for one in pending:
                self._flush([one])
            return
        log.error(
            "could not record the result of SMS %s; it stays claimed until its lease runs out",
            pending[0].id,
        )
        self.stats.add("unrecorded")

    def flush_and_wait(self) -> None:
        """Return once everything put so far is recorded (or given up on)."""
        self.queue.join()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=120)


@dataclass
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0
    deferred: int = 0
    lost: int = 0  # claim taken over by another worker before we sent
    adopted: int = 0  # retaken after a crash, found already sent: recorded, not re-sent
    claims: int = 0  # claim transactions
    result_batches: int = 0  # result-writer commits
    result_rows: int = 0  # results recorded by them
    unrecorded: int = 0  # results given up on (left to the lease)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        names = (
            "claimed",
            "sent",
            "retried",
            "failed",
            "suppressed",
            "deferred",
            "lost",
            "adopted",
            "claims",
            "result_batches",
            "result_rows",
            "unrecorded",
        )
        return {k: getattr(self, k) for k in names}


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS style): uniform in [base/2, base·2^(n-1)]."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return rng.uniform(min(base / 2, ceiling), ceiling)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]


class Dispatcher:
    def __init__(
        self,
        *,
        settings: Settings,
        reactions: DeliveryReactions,
        transport: Transport | None = None,
        session_factory: sessionmaker[Session] | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.reactions = reactions
        self.transport = transport or make_transport(
            settings, settings.sms_http_timeout_seconds, settings.sms_connect_timeout_seconds
        )
        self.sessions = session_factory or db.make_sessionmaker(db.get_engine(), settings)
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.rng = rng or random.Random()
        self.throttle = SenderThrottle(self.settings.sender_rate_per_second)
        self.stats = Stats()
        self.stop_event = threading.Event()
        self._recipient_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._last_beat = 0.0
        self._claimed_at: dict[uuid.UUID, float] = {}
        # sid → row: what this worker posted or adopted (bounded, oldest forgotten first).
        self._known_sids: dict[str, uuid.UUID] = {}
        self._row_sids: dict[uuid.UUID, str] = {}
        self._sids_lock = threading.Lock()
        self._wake = wakeups.SIGNALS[wakeups.OUTBOX].waiter()
        self._claim_was_full = False
        self.writer = ResultWriter(self.sessions, self.clock, self.worker_id, self.stats)
        # Rows claimed and not yet finished (queued in the pool or being sent).
        self._outstanding = 0
        self._outstanding_lock = threading.Lock()

    # --- claiming ---------------------------------------------------------------------

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.sms_lease_seconds)

    def max_outstanding(self) -> int:
        """Claim no more than can be sent well within the lease, throttled or not."""
        ahead = self.settings.worker_concurrency * 2
        if self.throttle.enabled:
            ahead = min(
                ahead,
                max(
                    1,
                    int(self.settings.sender_rate_per_second * self.settings.sms_lease_seconds / 3),
                ),
            )
        return ahead

    def claim(self, limit: int) -> list[Claimed]:
        now = self.clock()
        with db.session_scope(self.sessions) as session:
            rows = outbox.claim(session, self.worker_id, limit, now, self.lease)
            self._claim_was_full = len(rows) >= limit
            self.stats.add("claims")
            unsendable = outbox.suppress_unsendable(session, [r.id for r in rows], now)
            ready = self._hold_quiet(session, [r for r in rows if r.id not in unsendable], now)
        self.stats.add("claimed", len(rows))
        self.stats.add("suppressed", len(unsendable))
        stamp = time.monotonic()
        for row in ready:
            self._claimed_at[row.id] = stamp
        return ready

    def _hold_quiet(self, session: Session, rows: list[Claimed], now: datetime) -> list[Claimed]:
        """Put back family messages that reached their time during quiet hours."""
        candidates = [r for r in rows if quiet.applies(r.kind, r.urgent)]
        if not candidates:
            return rows
        case_ids = {r.case_id for r in candidates if r.case_id}
        cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
        held: dict[datetime, list[uuid.UUID]] = defaultdict(list)
        for row in candidates:
            until = quiet.hold_until(
                cases.get(row.case_id) if row.case_id else None,
                row.kind,
                row.urgent,
                now,
                self.settings.quiet_hours,
                self.settings.default_time_zone,
            )
            if until is not None:
                held[until].append(row.id)
        for until, ids in held.items():
            outbox.defer(session, self.worker_id, ids, until, now)
            self.stats.add("deferred", len(ids))
        skipped = {i for ids in held.values() for i in ids}
        return [r for r in rows if r.id not in skipped]

    # --- sending ----------------------------------------------------------------------

    def _recipient_lock(self, phone: str) -> threading.Lock:
        with self._locks_guard:
            return self._recipient_locks[phone]

    def send_group(self, rows: list[Claimed]) -> None:
        """Messages to one number go one after another, in order (introduction first)."""
        lock = self._recipient_lock(rows[0].to_phone)
        with lock:
            clean = True
            for row in rows:
                try:
                    # After a failure (e.g. 21610, the number opted out) the next rows to
                    # the same number are re-checked before they go.
                    clean = self.send_one(row, recheck=not clean) and clean
                except Exception:  # one bad row must not take its neighbours down
                    clean = False
                    log.exception("SMS %s: unexpected error; it will be retried", row.id)

    def _still_ours(self, row: Claimed) -> str | None:
        """Re-check at send time: None to go ahead, else why not (the row is settled here)."""
        now = self.clock()
        with db.session_scope(self.sessions) as session:
            current = session.execute(
                select(
                    Notification.status,
                    Notification.claimed_by,
                    Notification.claimed_until,
                    Contact.opted_out_at,
                    Contact.consented_channels,
                    Contact.role,
                    User.active,
                    Notification.channel,
                )
                .outerjoin(Contact, Contact.id == Notification.contact_id)
                .outerjoin(User, User.id == Notification.user_id)
                .where(Notification.id == row.id)
            ).first()
            if current is None:
                return "deleted"
            status, owner, until, opted_out_at, consented, role, user_active, channel = current
            if status != NotificationStatus.sending or owner != self.worker_id:
                return "lost"
            reason = None
            if opted_out_at is not None:
                reason = "recipient opted out (STOP)"
            elif problem := outbox.consent_problem(role, consented, channel):
                reason = problem
            elif user_active is False:
                reason = "recipient user is deactivated"
            if reason:
                outbox.mark_suppressed(session, row.id, reason, now)
                return "suppressed"
            if until is None or until - now < self.lease / 2:
                outbox.renew(session, self.worker_id, row.id, now + self.lease)
        return None

    def send_one(self, row: Claimed, recheck: bool = False) -> bool:
        """Send one row; True when the provider accepted it."""
        self.throttle.acquire(row.sender or self.transport.sender(), float(max(1, row.segments)))
        # Checked in the claim's transaction; checked again when the row waited since (a
        # throttled sender, a busy recipient): a STOP in between must win.
        claimed_at = self._claimed_at.pop(row.id, 0.0)
        if recheck or time.monotonic() - claimed_at > RECHECK_AFTER_SECONDS:
            verdict = self._still_ours(row)
            if verdict is not None:
                self.stats.add("suppressed" if verdict == "suppressed" else "lost")
                return False
        mine = self._posted_here(row.id)
        if mine is not None:
            # Our own lease ran out before the batched writer recorded the send (a very slow
            # database): the row came back to us, but it has gone out already.
            self._sent(row, mine, row.sender or self.transport.sender())
            self.stats.add("adopted")
            return True
        # The provider's message list can only vouch for SMS (WhatsApp and calls: at least once).
        if row.retaken_since is not None and row.channel == "sms":
            try:
                adopted = self._adoptable(row, row.retaken_since)
            except TransportError as exc:
                # Unsure whether it went out: neither send now nor give up; ask again later.
                self._record_error(
                    row,
                    TransportError(
                        f"could not check for an earlier send: {exc.message}",
                        permanent=False,
                        code=exc.code,
                        retry_after=exc.retry_after,
                    ),
                )
                return False
            if adopted is not None:
                self._sent(row, adopted, row.sender or self.transport.sender())
                self.stats.add("adopted")
                log.info(
                    "SMS %s: already sent before a crash (%s); not sent again", row.id, adopted
                )
                return True
        message = outbox.outgoing(row)
        try:
            result = self.transport.send(message)
        except TransportError as exc:
            self._record_error(row, exc)
            return False
        self._remember_sid(result.sid, row.id)
        self._sent(row, result.sid, result.sender)
        self.stats.add("sent")
        return True

    def _sent(self, row: Claimed, sid: str, sender: str) -> None:
        self.writer.put(outbox.Outcome(row.id, NotificationStatus.sent, sid=sid, sender=sender))

    def _remember_sid(self, sid: str, row_id: uuid.UUID) -> None:
        with self._sids_lock:
            self._remember_locked(sid, row_id)

    def _remember_locked(self, sid: str, row_id: uuid.UUID) -> None:
        self._known_sids[sid] = row_id
        self._row_sids[row_id] = sid
        while len(self._known_sids) > KNOWN_SIDS_KEPT:
            old = next(iter(self._known_sids))
            self._row_sids.pop(self._known_sids.pop(old), None)

    def _posted_here(self, row_id: uuid.UUID) -> str | None:
        with self._sids_lock:
            return self._row_sids.get(row_id)

    def _adoptable(self, row: Claimed, since: datetime) -> str | None:
        """The provider id of a message a crashed worker posted for ``row``, if any.

        Rows to one number are sent one after another in age order (``send_group``), so
        taking the oldest unclaimed match matches identical bodies one to one, oldest first.
        """
        since = since - ADOPTION_SKEW
        matches = [
            m
            for m in self.transport.sent_since(row.to_phone, since, row.sender)
            if m.body == row.body and m.created_at >= since
        ]
        if not matches:
            return None
        with db.session_scope(self.sessions) as session:
            recorded = set(
                session.scalars(
                    select(Notification.provider_sid).where(
                        Notification.provider_sid.in_([m.sid for m in matches])
                    )
                )
            )
        with self._sids_lock:
            free = [m for m in matches if m.sid not in recorded and m.sid not in self._known_sids]
            if not free:
                return None
            chosen = min(free, key=lambda m: (m.created_at, m.sid))
            self._remember_locked(chosen.sid, row.id)
        return chosen.sid

    def _record_error(self, row: Claimed, exc: TransportError) -> None:
        now = self.clock()
        if not exc.permanent and row.attempts < self.settings.sms_max_attempts:
            delay = backoff_seconds(
                row.attempts,
                self.settings.sms_retry_base_seconds,
                self.settings.sms_retry_max_seconds,
                self.rng,
            )
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, self.settings.sms_retry_max_seconds))
            self.writer.put(
                outbox.Outcome(
                    row.id,
                    NotificationStatus.queued,
                    next_attempt_at=now + timedelta(seconds=delay),
                    code=exc.code,
                    message=(
                        f"attempt {row.attempts} of {self.settings.sms_max_attempts}: {exc.message}"
                    ),
                )
            )
            self.stats.add("retried")
            log.info("SMS %s: %s; retry in %.0f s", row.id, exc.message, delay)
            return
        message = (
            exc.message
            if exc.permanent
            else f"gave up after {row.attempts} attempts: {exc.message}"
        )
        self.stats.add("failed")
        log.warning("SMS %s failed: %s", row.id, message)
        contact_id = row.contact_id
        if contact_id is None or not (exc.opted_out or exc.bad_number):
            self.writer.put(
                outbox.Outcome(row.id, NotificationStatus.failed, code=exc.code, message=message)
            )
            return
        # A refusal that changes the contact (STOP, a dead number) is written at once, in
        # one transaction with its reaction: the next rows to that number re-check it.
        with db.session_scope(self.sessions) as session:
            outbox.mark_failed(session, row.id, exc.code, message, now)
            if exc.opted_out:
                self.reactions.opted_out(session, contact_id, now)
            else:
                self.reactions.bad_number(session, contact_id, now, notification_id=row.id)

    # --- the loop ---------------------------------------------------------------------

    def claim_size(self, outstanding: int) -> int:
        """How many rows to claim with ``outstanding`` claimed and not yet finished.

        The free capacity (the bound less what is outstanding), but only once it is at
        least a quarter of the bound, or nothing is outstanding: one claim transaction per
        bound/4 sends instead of one per finished send, while the threads still have a
        quarter-bound's rows queued in front of them when the claim runs.
        """
        bound = self.max_outstanding()
        room = bound - outstanding
        if room <= 0:
            return 0
        return room if outstanding == 0 or room >= max(1, bound // 4) else 0

    def _submit(
        self, pool: ThreadPoolExecutor, rows: list[Claimed]
    ) -> dict[Future[None], list[Claimed]]:
        groups: dict[str, list[Claimed]] = defaultdict(list)
        for row in rows:
            groups[row.to_phone].append(row)
        with self._outstanding_lock:
            self._outstanding += len(rows)
        futures: dict[Future[None], list[Claimed]] = {}
        for group in groups.values():
            group.sort(key=lambda r: (r.next_attempt_at, r.kind != "introduction", r.created_at))
            future = pool.submit(self.send_group, group)
            future.add_done_callback(functools.partial(self._finished, len(group)))
            futures[future] = group
        return futures

    def _finished(self, n: int, _future: Future[None] | None = None) -> None:
        """A group is done: wake the loop when that opens room for a claim (not at every
        finished send, which would be a claim transaction each) or leaves nothing to do."""
        with self._outstanding_lock:
            before = self._outstanding
            self._outstanding -= n
            after = self._outstanding
        if after == 0 or (self.claim_size(after) > 0 and self.claim_size(before) == 0):
            self._wake.set()

    def run(self, *, once: bool = False) -> Stats:
        """Send until stopped (``once``: until nothing is due). SIGTERM-safe via ``stop()``.

        At most ``worker_concurrency`` sends run at once (a fixed pool of that many threads,
        and as many HTTP connections); at most ``max_outstanding()`` rows are claimed ahead.
        """
        inflight: dict[Future[None], list[Claimed]] = {}
        with ThreadPoolExecutor(
            max_workers=self.settings.worker_concurrency, thread_name_prefix="sms-send"
        ) as pool:
            try:
                while not self.stop_event.is_set():
                    self._heartbeat()
                    for fut in [f for f in inflight if f.done()]:
                        inflight.pop(fut, None)
                    # Cleared before counting, so a send finishing meanwhile wakes us again.
                    self._wake.clear()
                    with self._outstanding_lock:
                        want = self.claim_size(self._outstanding)
                    claimed: list[Claimed] = []
                    if want > 0:
                        try:
                            claimed = self.claim(want)
                        except Exception:  # the database blinked: keep the loop alive
                            log.exception("claim failed; retrying")
                            self.stop_event.wait(min(self.settings.worker_poll_seconds, 5.0))
                            continue
                        inflight.update(self._submit(pool, claimed))
                        if self._claim_was_full:
                            continue  # more may be due right now
                    if once and not inflight and not claimed:
                        break
                    self._wake.wait(self._sleep_seconds(full=want <= 0))
            finally:
                # SIGTERM: sends under way finish; rows not started go back at once.
                unstarted = [r for fut, g in inflight.items() if fut.cancel() for r in g]
                if unstarted:
                    with db.session_scope(self.sessions) as session:
                        outbox.release(
                            session, self.worker_id, [r.id for r in unstarted], self.clock()
                        )
                        wakeups.mark(session, wakeups.OUTBOX)
                pool.shutdown(wait=True)
                self.writer.flush_and_wait()
                self._heartbeat(force=True)
        return self.stats

    def _sleep_seconds(self, *, full: bool) -> float:
        """Until the next row falls due (a retry, a quiet-hours hold, an expired lease), at
        most the safety poll and the heartbeat; a queued row or a finished send wakes us."""
        ceiling = min(self.settings.worker_poll_seconds, HEARTBEAT_SECONDS)
        if full:
            return ceiling
        try:
            with self.sessions() as session:
                upcoming = outbox.next_due(session)
        except Exception:  # the claim will report it; keep polling meanwhile
            log.debug("next due time unavailable", exc_info=True)
            return ceiling
        if upcoming is None:
            return ceiling
        # A floor: a due row another worker is claiming right now (SKIP LOCKED) is no spin.
        return max(0.02, min(ceiling, (upcoming - self.clock()).total_seconds()))

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def _heartbeat(self, *, force: bool = False) -> None:
        mono = self.clock().timestamp()
        if mono - self._last_beat < HEARTBEAT_SECONDS and not force:
            return
        self._last_beat = mono
        try:
            with db.session_scope(self.sessions) as session:
                beat(session, self.worker_id, self.clock(), HEARTBEAT_SECONDS, self.stats.as_dict())
        except Exception:  # liveness reporting must never stop sending
            log.exception("heartbeat failed")

    def close(self) -> None:
        wakeups.SIGNALS[wakeups.OUTBOX].forget(self._wake)
        self.writer.close()
        self.transport.close()


def beat(
    session: Session, worker_id: str, now: datetime, interval: float, details: dict[str, Any]
) -> None:
    values = {
        "name": f"{HEARTBEAT_PREFIX}{worker_id}"[:100],
        "beat_at": now,
        "interval_seconds": interval,
        "details": details,
    }
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(Heartbeat).values(values)
        stmt = pg.on_conflict_do_update(
            index_elements=["name"], set_={k: pg.excluded[k] for k in ("beat_at", "details")}
        )
    elif session.get_bind().dialect.name == "sqlite":
        lite = sqlite.insert(Heartbeat).values(values)
        stmt = lite.on_conflict_do_update(
            index_elements=["name"], set_={k: lite.excluded[k] for k in ("beat_at", "details")}
        )
    else:  # pragma: no cover - only the two supported backends
        stmt = insert(Heartbeat).values(values)
    session.execute(stmt)


def run_worker(settings: Settings, reactions: DeliveryReactions, *, once: bool = False) -> Stats:
    """``amparo worker`` / ``amparo dispatch --once``: SIGTERM and SIGINT finish in-flight sends."""
    # A bounded pool: send threads wait for a connection rather than exhaust PostgreSQL's
    # max_connections when several workers run.
    engine = db.make_engine(
        settings.database_url, pool_size=min(settings.worker_concurrency, 6) + 2, max_overflow=2
    )
    dispatcher = Dispatcher(
        settings=settings,
        reactions=reactions,
        session_factory=db.make_sessionmaker(engine, settings),
    )
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: dispatcher.stop())
    log.info(
        "SMS worker %s: transport %s, concurrency %d, %s",
        dispatcher.worker_id,
        dispatcher.transport.name,
        dispatcher.settings.worker_concurrency,
        f"{dispatcher.settings.sender_rate_per_second}/s per sender"
        if dispatcher.throttle.enabled
        else "no throttle",
    )
    unlisten = wakeups.listen(settings.database_url, [wakeups.OUTBOX])
    try:
        return dispatcher.run(once=once)
    finally:
        unlisten()
        dispatcher.close()
        engine.dispose()


def start_in_background(settings: Settings, reactions: DeliveryReactions) -> Callable[[], None]:
    """The embedded default: the worker as a thread; returns ``stop()``."""
    dispatcher = Dispatcher(settings=settings, reactions=reactions)
    unlisten = wakeups.listen(settings.database_url, [wakeups.OUTBOX])
    thread = threading.Thread(target=dispatcher.run, name="sms-worker", daemon=True)
    thread.start()

    def stop() -> None:
        unlisten()
        dispatcher.stop()
        thread.join(timeout=dispatcher.settings.sms_http_timeout_seconds + 5)
        dispatcher.close()

    return stop
