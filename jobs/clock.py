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
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import digest, heartbeat
from jobs.sweeps import SWEEPS, sweep
from tracker import db
from tracker.settings import Settings, get_settings
from tracker.types import utcnow

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"
DIGEST_INTERVAL_SECONDS = 60.0

JOB_TITLES = {
    "removal": "removal sweep (alert ladder before a scheduled removal)",
    "documentation": "documentation-window sweep (48 h after a determination)",
    "unanswered": "unanswered-request sweep",
    "stay_expiry": "stay-expiry sweep",
    "escalation": "escalation sweep (unacknowledged alerts to the on-call number)",
    DIGEST_JOB: "morning digest (07:00 in each attorney's zone)",
}


def job_id(name: str) -> str:
    return name if name == DIGEST_JOB else f"sweep.{name}"


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


def add_jobs(scheduler: BaseScheduler, settings: Settings, start_now: bool = True) -> BaseScheduler:
    """Add every job with an explicit id, ``replace_existing``, coalescing and a misfire
    grace: a run delayed by a busy machine still happens (once), it is not dropped."""
    interval = settings.sweep_interval_seconds
    first = datetime.now(UTC) if start_now else None
    common: dict[str, Any] = {
        "replace_existing": True,
        "coalesce": True,
        "max_instances": 1,
    }
    for name in SWEEPS:
        scheduler.add_job(
            run_sweep_job,
            IntervalTrigger(seconds=interval),
            args=[name, interval],
            id=job_id(name),
            name=JOB_TITLES[name],
            misfire_grace_time=max(1, int(interval * 4)),
            next_run_time=first,
            **common,
        )
    scheduler.add_job(
        run_digest_job,
        IntervalTrigger(seconds=DIGEST_INTERVAL_SECONDS),
        args=[DIGEST_INTERVAL_SECONDS],
        id=DIGEST_JOB,
        name=JOB_TITLES[DIGEST_JOB],
        misfire_grace_time=int(DIGEST_INTERVAL_SECONDS * 4),
        next_run_time=first,
        **common,
    )
    scheduler.add_job("tracker.retention:run_purge_job", IntervalTrigger(hours=24), id="retention.purge", name="retention purge (closed cases past the retention period)", misfire_grace_time=3600, **common)  # noqa: E501
    return scheduler


def _executors(settings: Settings) -> dict[str, Any]:
    # One thread per job: a slow sweep never delays another kind of alert.
    return {"default": {"type": "threadpool", "max_workers": len(SWEEPS) + 1}}


def make_scheduler(kind: type[BaseScheduler], settings: Settings | None = None) -> BaseScheduler:
    settings = settings or get_settings()
    scheduler = kind(timezone=UTC, executors=_executors(settings))
    return add_jobs(scheduler, settings)


def run_clock(settings: Settings | None = None) -> None:
    """``amparo clock``: block until SIGTERM or SIGINT, then finish running jobs and exit."""
    settings = settings or get_settings()
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


def start_in_background(settings: Settings | None = None) -> Callable[[], None]:
    """The embedded clock (``amparo serve --embedded``); returns its stop()."""
    scheduler = make_scheduler(BackgroundScheduler, settings)
    scheduler.start()
    heartbeat.embedded_started_at = utcnow()

    def stop() -> None:
        heartbeat.embedded_started_at = None
        scheduler.shutdown(wait=True)

    return stop
