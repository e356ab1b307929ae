"""The clock: one APScheduler 3 process running the sweeps and the morning digest.

``amparo clock`` runs a ``BlockingScheduler`` (Procfile ``clock``); ``amparo serve --embedded``
runs the same jobs in a ``BackgroundScheduler`` beside the web server. APScheduler 3 cannot
share a job store between processes, so the jobs keep no state in the scheduler: each run
asks the database what is due, and every write is idempotent (dedupe keys), which is what
makes a second clock started by mistake harmless.

Exact time: besides the interval sweeps (now the safety net), ``ExactTime`` asks the database
for the next moment anything falls due (``jobs.next_due``), arms one date-trigger job
(``sweep.due``) for that moment, runs every sweep then, and re-arms. A committed write that
can move a deadline wakes it to re-arm (``tracker.wakeups``: after commit in this process,
LISTEN/NOTIFY on PostgreSQL), so an alert leaves when it falls due, not up to an interval later.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jobs import digest, heartbeat, oncall
from jobs.next_due import next_due
from jobs.sweeps import SWEEPS, PolicyGroups, counts, sweep, sweep_all
from tracker import db, wakeups
from tracker.retention import run_purge_job
from tracker.settings import Settings
from tracker.types import utcnow

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"
EXACT_JOB = "sweep.due"
REARM_AT_MOST_EVERY_SECONDS = 0.2
DIGEST_INTERVAL_SECONDS = 60.0
PURGE_INTERVAL = timedelta(hours=24)


@dataclass(frozen=True)
class Job:
    """One job of the clock: its id (the heartbeat's name without ``sweep.``), its title for
    ``amparo jobs``, what it runs and how often."""

    id: str
    title: str
    func: Callable[..., None]
    args: tuple[Any, ...]
    every: timedelta
    # A run delayed by a busy machine still happens (once) within this grace; not dropped.
    misfire_grace_seconds: int
    # First run at start-up (sweeps, digest) or one interval later (the daily purge).
    start_now: bool = True


def run_sweep_job(name: str, interval: float, clock: Callable[[], datetime] = utcnow) -> None:
    """One scheduled run of one sweep, then its heartbeat."""
    now = clock()
    started = time.perf_counter()
    outcome = sweep(name, now)
    elapsed = time.perf_counter() - started
    with db.session_scope() as session:
        heartbeat.beat(
            session,
            name,
            now,
            interval,
            {
                "raised": dict(outcome.raised),
                "candidates": outcome.candidates,
                "failed_chunks": outcome.failed_chunks,
                "seconds": round(elapsed, 4),
            },
        )
    if outcome.total or outcome.failed_chunks:
        log.info(
            "sweep %s: raised %s from %d candidates in %.3f s (%d failed chunks)",
            name,
            dict(outcome.raised),
            outcome.candidates,
            elapsed,
            outcome.failed_chunks,
        )


def run_digest_job(interval: float, clock: Callable[[], datetime] = utcnow) -> None:
    now = clock()
    with db.session_scope() as session:
        sent = digest.send_digests(session, now)
        heartbeat.beat(session, DIGEST_JOB, now, interval, {"sent": sent})
    if sent:
        log.info("digest: queued %d morning digests", sent)


def jobs(settings: Settings) -> list[Job]:
    """THE list of the clock's jobs."""
    sweep_every = settings.sweep_interval_seconds
    interval = timedelta(seconds=sweep_every)
    grace = max(1, int(sweep_every * 4))

    def sweep_job(name: str, title: str) -> Job:
        return Job(f"sweep.{name}", title, run_sweep_job, (name, sweep_every), interval, grace)

    return [
        sweep_job("removal", "removal sweep (alert ladder before a scheduled removal)"),
        sweep_job("documentation", "documentation-window sweep (48 h after a determination)"),
        sweep_job("unanswered", "unanswered-request sweep"),
        sweep_job("stay_expiry", "stay-expiry sweep"),
        sweep_job("staging", "staging sweep (detained at a staging facility, no stay)"),
        sweep_job("whereabouts", "whereabouts sweep (detained, no confirmed location for N h)"),
        sweep_job("escalation", "escalation sweep (unacknowledged alerts to the on-call number)"),
        Job(
            DIGEST_JOB,
            "morning digest (07:00 in each attorney's zone)",
            run_digest_job,
            (DIGEST_INTERVAL_SECONDS,),
            timedelta(seconds=DIGEST_INTERVAL_SECONDS),
            int(DIGEST_INTERVAL_SECONDS * 4),
        ),
        Job(
            oncall.SHIFT_START_JOB,
            "on-call shift start (one SMS to whoever comes on shift)",
            oncall.run_shift_start_job,
            (oncall.INTERVAL_SECONDS,),
            timedelta(seconds=oncall.INTERVAL_SECONDS),
            int(oncall.INTERVAL_SECONDS * 4),
        ),
        Job(
            "retention.purge",
            "retention purge (closed cases past the retention period)",
            run_purge_job,
            (),
            PURGE_INTERVAL,
            3600,
            start_now=False,
        ),
    ]


def add_jobs(scheduler: BaseScheduler, settings: Settings, start_now: bool = True) -> BaseScheduler:
    """Add every job with an explicit id, ``replace_existing``, coalescing and a misfire
    grace: a run delayed by a busy machine still happens (once), it is not dropped."""
    first = datetime.now(UTC) if start_now else None
    for job in jobs(settings):
        options: dict[str, Any] = {"next_run_time": first} if job.start_now else {}
        scheduler.add_job(
            job.func,
            IntervalTrigger(seconds=job.every.total_seconds()),
            args=list(job.args),
            id=job.id,
            name=job.title,
            misfire_grace_time=job.misfire_grace_seconds,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            **options,
        )
    return scheduler


class ExactTime:
    """Sleep until the next moment anything falls due; wake early when a write moves one."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.clock = clock
        self.armed_for: datetime | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = wakeups.SIGNALS[wakeups.CLOCK].waiter()
        self._thread = threading.Thread(target=self._watch, name="clock-waker", daemon=True)

    def rearm(self, after: datetime) -> datetime | None:
        """Arm ``sweep.due`` for the first moment after ``after`` (at once if that passed)."""
        with self._lock:
            try:
                with db.get_sessionmaker()() as session:
                    moment = next_due(session, PolicyGroups.load(session), after)
            except Exception:  # the database blinked: the interval sweeps carry on meanwhile
                log.exception("clock: could not compute the next due moment")
                return None
            self.armed_for = moment
            if moment is None:
                with contextlib.suppress(JobLookupError):  # nothing was armed
                    self.scheduler.remove_job(EXACT_JOB)
                return None
            self.scheduler.add_job(
                self.run,
                DateTrigger(run_date=max(moment, self.clock())),
                id=EXACT_JOB,
                name="every sweep, at the moment something falls due",
                replace_existing=True,
                # A moment reached while the machine was busy still runs, late, once.
                misfire_grace_time=max(60, int(self.settings.sweep_interval_seconds * 4)),
                coalesce=True,
            )
            return moment

    def run(self) -> None:
        now = self.clock()
        try:
            outcomes = sweep_all(now)
            raised = counts(outcomes)
            if raised:
                log.info("clock: due at %s, raised %s", now.isoformat(), raised)
        finally:
            # From the sweep's own ``now``: a moment that passed while it ran is not skipped.
            self.rearm(now)

    def start(self) -> None:
        self.rearm(self.clock())
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            # The safety re-arm (once an interval) covers a wake-up lost with a connection.
            self._wake.wait(self.settings.sweep_interval_seconds)
            self._wake.clear()
            if not self._stopping.is_set():
                self.rearm(self.clock())
                # A burst of writes (an import, a busy web server) re-arms a few times a
                # second, not once per write: wake-ups meanwhile are taken together.
                self._stopping.wait(REARM_AT_MOST_EVERY_SECONDS)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        wakeups.SIGNALS[wakeups.CLOCK].forget(self._wake)


def _executors(settings: Settings) -> dict[str, Any]:
    # One thread per job: a slow sweep never delays another kind of alert.
    return {"default": {"type": "threadpool", "max_workers": len(SWEEPS) + 2}}


def make_scheduler(kind: type[BaseScheduler], settings: Settings) -> BaseScheduler:
    scheduler = kind(timezone=UTC, executors=_executors(settings))
    return add_jobs(scheduler, settings)


def run_clock(settings: Settings) -> None:
    """``amparo clock``: block until SIGTERM or SIGINT, then finish running jobs and exit."""
    scheduler = make_scheduler(BlockingScheduler, settings)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("clock: %s received, finishing running jobs", signal.Signals(signum).name)
        # Let running sweeps finish their transactions; then start() returns.
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "clock: %d jobs, sweeping every %.0f s and at each moment something falls due",
        len(scheduler.get_jobs()),
        settings.sweep_interval_seconds,
    )
    unlisten = wakeups.listen(settings.database_url, [wakeups.CLOCK])
    exact = ExactTime(scheduler, settings)
    exact.start()
    try:
        scheduler.start()
    finally:
        exact.stop()
        unlisten()
    log.info("clock stopped")


def start_in_background(settings: Settings) -> Callable[[], None]:
    """The embedded clock (``amparo serve --embedded``); returns its stop()."""
    scheduler = make_scheduler(BackgroundScheduler, settings)
    scheduler.start()
    unlisten = wakeups.listen(settings.database_url, [wakeups.CLOCK])
    exact = ExactTime(scheduler, settings)
    exact.start()

    def stop() -> None:
        exact.stop()
        unlisten()
        scheduler.shutdown(wait=True)

    return stop
