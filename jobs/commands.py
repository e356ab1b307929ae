"""``amparo clock``, ``amparo sweep --once [--now ISO-8601]`` and ``amparo jobs``: the handlers
(their arguments are in ``tracker.cli``)."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from tracker import db
from tracker.commanderror import CommandError
from tracker.models import Alert, Heartbeat
from tracker.presentation import case_zone
from tracker.settings import Settings
from tracker.timefmt import local_label
from tracker.types import utcnow

KIND_ORDER = (
    "removal_imminent",
    "documentation_overdue",
    "unanswered",
    "stay_expiring",
    "escalation",
)


def parse_now(raw: str | None) -> datetime:
    if raw is None:
        return utcnow()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"--now: {raw!r} is not an ISO-8601 time ({exc})", status=2) from exc
    if value.tzinfo is None:
        raise CommandError(
            f"--now: {raw!r} has no time zone; write e.g. 2026-11-23T18:00:00Z", status=2
        )
    return value


def cmd_clock(args: argparse.Namespace, settings: Settings) -> None:
    from jobs.clock import run_clock

    run_clock(settings)


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> None:
    from jobs.sweeps import counts, sweep_all

    now = parse_now(args.now)
    outcomes = sweep_all(now)
    raised = counts(outcomes)
    print(f"sweep at {now.isoformat()}")
    for kind in KIND_ORDER:
        print(f"{kind}: {raised.get(kind, 0)}")
    ids = [i for o in outcomes for i in o.alert_ids]
    if ids:
        with db.session_scope() as session:
            alerts = session.scalars(select(Alert).where(Alert.id.in_(ids))).all()
            by_id = {a.id: a for a in alerts}
            for outcome in outcomes:
                for alert_id in outcome.alert_ids:
                    alert = by_id[alert_id]
                    rung = f" {alert.rung} h" if alert.rung else ""
                    kind = alert.kind
                    if outcome.name == "escalation":
                        kind, rung = "escalation", f" ({alert.kind}{rung})"
                    due = (
                        local_label(alert.due_at, case_zone(alert.case, settings.default_time_zone))
                        if alert.due_at
                        else ""
                    )
                    # Case ids only: an operator's terminal is no place for names.
                    print(f"  {kind}{rung}: case {alert.case_id} due {due}")
    failed = sum(o.failed_chunks for o in outcomes)
    print(f"total: {sum(raised.values())} raised" + (f", {failed} chunks FAILED" if failed else ""))
    if failed:
        raise CommandError("some sweeps failed; see the log above")


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from jobs import heartbeat
    from jobs.clock import make_scheduler

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = make_scheduler(BackgroundScheduler, settings)
    # Paused: computes each job's next run time without running anything.
    scheduler.start(paused=True)
    try:
        jobs = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    beats: dict[str, Heartbeat] = {}
    with db.session_scope() as session:
        for beat in heartbeat.clock_beats(session):
            beats[beat.name.removeprefix(heartbeat.PREFIX)] = beat
    now = utcnow()
    print(f"clock jobs (sweep interval {settings.sweep_interval_seconds:g} s)")
    print(f"{'job':<20} {'every':>7}  {'last run':<26} {'next run':<26} what")
    for job in jobs:
        name = job.id.removeprefix("sweep.")
        every = f"{job.trigger.interval.total_seconds():g}s"
        last_beat = beats.get(name)
        if last_beat is not None:
            last = last_beat.beat_at.isoformat(timespec="seconds")
            upcoming = last_beat.beat_at + timedelta(seconds=job.trigger.interval.total_seconds())
            nxt = upcoming.isoformat(timespec="seconds")
            if upcoming + job.trigger.interval * 2 < now:
                nxt += " (LATE)"
        else:
            last = "never"
            nxt = "when a clock starts"
        print(f"{job.id:<20} {every:>7}  {last:<26} {nxt:<26} {job.name}")
