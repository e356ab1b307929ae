"""PostgreSQL stopped for 10 s under a running clock: it resumes by itself, no alert lost.

Ten cases reach their 72-hour rung one after another over 20 s of real time; the private
cluster is stopped 3 s in and started 10 s later, so some rungs come due while the database
is gone. The same ``amparo clock`` process (never restarted) must raise every alert exactly
once, each with its SMS to counsel queued, and keep beating its heartbeat.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.reliability.pgcluster import PrivatePostgres
from tests.reliability.procs import amparo, wait_for
from tracker import db
from tracker.models import Alert, Case, Heartbeat, Notification
from tracker.services import Actor
from tracker.types import utcnow
from tracker.vocab import FlagKind, Role

OUTAGE_SECONDS = 10
OFFSETS = [1, 2, 4, 6, 8, 10, 12, 14, 16, 18]  # seconds after the start until each rung


def _alerts() -> list[Alert]:
    with db.session_scope() as session:
        return list(
            session.scalars(select(Alert).where(Alert.kind == FlagKind.removal_imminent.value))
        )


@pytest.mark.slow
def test_clock_survives_a_postgres_outage(
    private_db: str, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    start = utcnow()
    with db.session_scope() as session:
        org = factories.org(session, start, "Outage Hotline")
        attorney = factories.user(session, org, start, role=Role.attorney, phone="+12025550160")
        actor = Actor(label="test", organization_id=org.id, role=Role.admin)
        due: dict[uuid.UUID, datetime] = {}
        for n, offset in enumerate(OFFSETS):
            removal = start + timedelta(hours=72, seconds=offset + 2)
            case = factories.case(
                session,
                actor,
                start,
                given_name=f"Outage{n}",
                attorney_id=attorney.id,
                removal_scheduled_at=removal,
            )
            due[case.id] = removal - timedelta(hours=72)
    assert _alerts() == [], "no rung is due at intake"

    env = {"DATABASE_URL": private_db, "SWEEP_INTERVAL_SECONDS": "1"}
    clock = amparo(["clock"], env, tmp_path / "clock.log")
    try:
        wait_for(lambda: len(_alerts()) >= 1, 20, "the first alert", step=0.2)
        private_pg.stop()
        stopped_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        assert clock.alive(), "the clock died while PostgreSQL was down:\n" + clock.output()
        private_pg.start()
        outage = time.monotonic() - stopped_at
        restarted = utcnow()
        wait_for(lambda: len(_alerts()) >= len(OFFSETS), 40, "every alert after the outage", 0.5)
        time.sleep(3)  # more sweeps: a duplicate would show now
        assert clock.alive(), "the clock exited:\n" + clock.output()
        with db.session_scope() as session:
            beats = list(session.scalars(select(Heartbeat).where(Heartbeat.beat_at > restarted)))
            assert beats, "the clock's heartbeat did not resume after the outage"
            alerts = _alerts()
            by_case = {a.case_id: a for a in alerts}
            assert len(alerts) == len(OFFSETS) == len(by_case), "an alert raised twice or lost"
            latencies: list[float] = []
            for case_id, when in due.items():
                alert = by_case[case_id]
                assert alert.rung == 72
                sms = session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.alert_id == alert.id)
                )
                assert sms == 1, f"alert {alert.id}: {sms} SMS queued"
                latencies.append((alert.raised_at - when).total_seconds())
            assert session.scalar(select(func.count()).select_from(Case)) == len(OFFSETS)
        print(
            f"\npostgres outage {outage:.1f} s: {len(alerts)} alerts raised once each; "
            f"latency from due to raised max {max(latencies):.1f} s, "
            f"median {sorted(latencies)[len(latencies) // 2]:.1f} s"
        )
    finally:
        if not private_pg.running():
            private_pg.start()
        clock.stop()
