"""The clock: one APScheduler 3 process running the sweeps and the morning digest.

``amparo clock`` runs a ``BlockingScheduler`` (Procfile ``clock``); ``amparo serve --embedded``
runs the same jobs in a ``BackgroundScheduler`` beside the web server. APScheduler 3 cannot
share a job store between processes, so the jobs keep no state in the scheduler: each run
asks the database what is due, and every write is idempotent (dedupe keys), which is what
makes a second clock started by mistake harmless.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import digest, heartbeat, oncall
from jobs.sweeps import SWEEPS, sweep
from tracker import db
from tracker.retention import run_purge_job
from tracker.settings import Settings
from tracker.types import utcnow

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"
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


def _executors(settings: Settings) -> dict[str, Any]:
    # One thread per job: a slow sweep never delays another kind of alert.
    return {"default": {"type": "threadpool", "max_workers": len(SWEEPS) + 1}}


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
        "clock: %d jobs, sweeping every %.0f s",
        len(scheduler.get_jobs()),
        settings.sweep_interval_seconds,
    )
    scheduler.start()
    log.info("clock stopped")


def start_in_background(settings: Settings) -> Callable[[], None]:
    """The embedded clock (``amparo serve --embedded``); returns its stop()."""
    scheduler = make_scheduler(BackgroundScheduler, settings)
    scheduler.start()

    def stop() -> None:
        scheduler.shutdown(wait=True)

    return stop
