"""The shift-start job: text each person whose on-call shift just started (issue 15)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from jobs import heartbeat
from tracker import db
from tracker.services import oncall
from tracker.types import utcnow

log = logging.getLogger(__name__)

SHIFT_START_JOB = "oncall.shift_start"
INTERVAL_SECONDS = 60.0
# A run delayed (a restart, a busy machine) still announces a shift that started within this;
# a shift that started longer ago is old news. The outbox dedupe key makes repeats harmless.
LOOKBACK = timedelta(minutes=30)


def run_shift_start_job(interval: float, clock: Callable[[], datetime] = utcnow) -> None:
    now = clock()
    with db.session_scope() as session:
        sent = oncall.announce_shift_starts(session, now, LOOKBACK)
        heartbeat.beat(session, SHIFT_START_JOB, now, interval, {"sent": sent})
    if sent:
        log.info("on-call: queued %d shift-start notices", sent)
