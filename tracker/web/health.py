"""``GET /healthz``: the database answers, and the clock is alive.

Clock states (``"clock"`` in the JSON):

- ``ok``: every sweep wrote its heartbeat within three of its intervals.
- ``stale`` (HTTP 503): a sweep has not run for three intervals — nobody is being alerted, so
  a platform should restart the clock. Also when this process started the embedded clock more
  than three intervals ago and it has never beaten (the composition root tells the app when it
  started one: ``create_app(settings, clock_started_at=...)``).
- ``starting``: this process started the embedded clock moments ago and it has not beaten yet.
- ``not running`` (HTTP 200, ``"status": "degraded"``): no clock has ever written a heartbeat
  to this database and this process runs none. That is a deployment that has not started its
  ``clock`` process yet, not a crash of this web process: restarting the web would not help,
  so it is not a 503; the urgent queue page shows the warning (``clock_warning``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobs import heartbeat
from jobs.sweeps import SWEEPS
from tracker.db import get_sessionmaker
from tracker.i18n import N_
from tracker.timefmt import relative
from tracker.types import utcnow

OK, STALE, STARTING, NOT_RUNNING = "ok", "stale", "starting", "not running"


class HealthOut(BaseModel):
    """The body of ``/healthz`` (for ``/openapi.json``; the handler builds it by hand so that a
    broken database still gets an answer)."""

    status: Literal["ok", "degraded", "error"]
    database: str = Field(description='"ok", or the class of the error')
    clock: Literal["ok", "stale", "starting", "not running"] | None = None
    clock_last_beat: datetime | None = None
    clock_age_seconds: float | None = None
    clock_stale_jobs: list[str] | None = None


@dataclass(frozen=True)
class OwnClock:
    """The clock this process started (``amparo serve --embedded``): a missing heartbeat is
    then this process's own failure once ``interval_seconds`` × 3 have passed."""

    started_at: datetime
    interval_seconds: float


def own_clock(request: Request) -> OwnClock | None:
    """The app's own clock, as handed in by ``create_app``; None when it runs none."""
    started: datetime | None = getattr(request.app.state, "clock_started_at", None)
    if started is None:
        return None
    return OwnClock(started, request.app.state.settings.sweep_interval_seconds)


@dataclass(frozen=True)
class ClockHealth:
    state: str
    last_beat: datetime | None = None
    stale_jobs: tuple[str, ...] = ()


def clock_health(session: Session, now: datetime, own: OwnClock | None = None) -> ClockHealth:
    sweeps = set(SWEEPS)
    beats = [
        b for b in heartbeat.clock_beats(session) if b.name.removeprefix(heartbeat.PREFIX) in sweeps
    ]
    if not beats:
        if own is None:
            return ClockHealth(NOT_RUNNING)
        grace = timedelta(seconds=heartbeat.STALE_AFTER_INTERVALS * own.interval_seconds)
        return ClockHealth(STALE if now - own.started_at > grace else STARTING)
    stale = tuple(
        b.name.removeprefix(heartbeat.PREFIX)
        for b in beats
        if now - b.beat_at > timedelta(seconds=heartbeat.STALE_AFTER_INTERVALS * b.interval_seconds)
    )
    # The oldest sweep's beat: the clock is as alive as its slowest job.
    oldest = min(b.beat_at for b in beats)
    return ClockHealth(STALE if stale else OK, oldest, stale)


def clock_warning(
    session: Session | datetime, now: datetime | None = None, own: OwnClock | None = None
) -> str | None:
    """A sentence for the urgent queue page when the clock is not sweeping; else None.

    Call as ``clock_warning(session, now, own_clock(request))``, or ``clock_warning(now)`` to
    use a short session of its own.
    """
    if isinstance(session, datetime):
        with get_sessionmaker()() as short:
            return clock_warning(short, session, own)
    health = clock_health(session, now or utcnow(), own)
    now = now or utcnow()
    if health.state == STALE:
        if health.last_beat:
            # Shown on pages: marked for the web catalog, translated there (``tr``).
            return N_(
                "The clock has stopped {span} ago: deadline alerts are NOT being raised or "
                "sent. Restart the clock process (amparo clock)."
            ).format(span=relative(health.last_beat, now).replace("overdue by ", ""))
        return N_(
            "The clock has stopped: deadline alerts are NOT being raised or sent. Restart the "
            "clock process (amparo clock)."
        )
    if health.state == NOT_RUNNING:
        return N_(
            "The clock is not running: deadline alerts are NOT being raised or sent. "
            "Start it with `amparo clock` (or `amparo serve --embedded`)."
        )
    return None


def healthz(request: Request) -> JSONResponse:
    now = utcnow()
    try:
        with get_sessionmaker()() as session:
            session.execute(text("SELECT 1"))
            clock = clock_health(session, now, own_clock(request))
    except Exception as exc:  # any failure here means "unhealthy", whatever its class
        return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
    body: dict[str, object] = {
        "status": {OK: "ok", STARTING: "ok", NOT_RUNNING: "degraded"}.get(clock.state, "error"),
        "database": "ok",
        "clock": clock.state,
    }
    if clock.last_beat is not None:
        body["clock_last_beat"] = clock.last_beat.isoformat()
        body["clock_age_seconds"] = round((now - clock.last_beat).total_seconds(), 1)
    if clock.stale_jobs:
        body["clock_stale_jobs"] = list(clock.stale_jobs)
    return JSONResponse(body, status_code=503 if clock.state == STALE else 200)
