"""The clock's literal job list: every sweep, the digest and the daily purge, by reference."""

from __future__ import annotations

import dataclasses

from apscheduler.schedulers.background import BackgroundScheduler

from jobs import clock
from jobs.sweeps import SWEEPS
from tracker.retention import run_purge_job
from tracker.settings import get_settings


def test_the_job_list_covers_every_sweep_the_digest_and_the_purge() -> None:
    settings = dataclasses.replace(get_settings(), sweep_interval_seconds=7.0)
    jobs = {job.id: job for job in clock.jobs(settings)}
    assert {i.removeprefix("sweep.") for i in jobs if i.startswith("sweep.")} == set(SWEEPS)
    assert set(jobs) - {f"sweep.{s}" for s in SWEEPS} == {
        "digest",
        "oncall.shift_start",
        "retention.purge",
    }
    assert jobs["sweep.removal"].args == ("removal", 7.0)
    assert jobs["sweep.removal"].every.total_seconds() == 7.0
    # The purge is a function, not a "module:function" string, and waits a day to run.
    assert jobs["retention.purge"].func is run_purge_job
    assert not jobs["retention.purge"].start_now

    scheduler = clock.make_scheduler(BackgroundScheduler, settings)
    scheduler.start(paused=True)
    try:
        scheduled = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(scheduled) == set(jobs)
    assert scheduled["retention.purge"].func is run_purge_job
    assert scheduled["retention.purge"].trigger.interval.total_seconds() == 24 * 3600
