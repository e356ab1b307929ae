"""``amparo sweep --once --now``, ``amparo jobs`` and ``amparo clock`` against real databases."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from jobs import heartbeat
from jobs.sweeps import SWEEPS
from tracker import db
from tracker.cli import main
from tracker.models import Alert, Notification
from tracker.types import utcnow


def _counts(out: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"(?m)^(\w+): (\d+)$", out)}


def test_sweep_once_on_demo_data(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    capsys.readouterr()
    # Seven hours on: the removal (due in 20 h) is inside its 24 h rung, the stay (expiring
    # in 30 h) has reached its 24 h rung, the decision recorded 50 h ago is undocumented
    # and the PD request filed 15 days ago is unanswered.
    at = (utcnow() + timedelta(hours=7)).isoformat()
    assert main(["sweep", "--once", "--now", at]) == 0
    out = capsys.readouterr().out
    assert _counts(out) == {
        "removal_imminent": 1,
        "documentation_overdue": 1,
        "unanswered": 1,
        "stay_expiring": 1,
        "escalation": 0,
    }
    assert re.search(r"removal_imminent 24 h: case [0-9a-f-]{36} due .+ CST", out)
    assert re.search(r"stay_expiring 24 h: case ", out)
    assert "total: 4 raised" in out
    # Names and A-numbers stay out of the operator's terminal.
    for secret in ("Ejemplo", "Egzanp", "Muestra", "Ficticio", "000-000"):
        assert secret not in out
    # Again at the same moment: nothing new.
    assert main(["sweep", "--once", "--now", at]) == 0
    assert "total: 0 raised" in capsys.readouterr().out
    # Two hours later nobody has acknowledged anything: each open alert escalates once.
    later = (utcnow() + timedelta(hours=9)).isoformat()
    assert main(["sweep", "--once", "--now", later]) == 0
    out = capsys.readouterr().out
    assert _counts(out)["escalation"] == 4
    with db.session_scope() as session:
        bodies = [n.body for n in session.scalars(select(Notification))]
        assert bodies and not any("Ejemplo" in b or "000-000" in b for b in bodies)
        assert session.scalars(select(Alert)).first() is not None


def test_sweep_rejects_a_naive_or_bad_time(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--once", "--now", "2026-11-23T18:00:00"]) == 2
    assert "no time zone" in capsys.readouterr().err
    assert main(["sweep", "--once", "--now", "tomorrow"]) == 2
    assert "not an ISO-8601 time" in capsys.readouterr().err


def test_jobs_lists_every_job(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    for name in SWEEPS:
        assert re.search(rf"(?m)^sweep\.{name}\s+15s\s+never", out)
    assert re.search(r"(?m)^digest\s+60s", out)
    with db.session_scope() as session:
        heartbeat.beat(session, "removal", utcnow(), 15)
    assert main(["jobs"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("sweep.removal"))
    assert "never" not in line and "LATE" not in line


def test_clock_process_sweeps_beats_and_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    from tests.jobs.world import new_case, world

    with db.session_scope() as session:
        w = world(session, now=utcnow())
        case = new_case(session, w, now=utcnow())
        # Written straight to the table, so only the running clock can raise it.
        case.removal_scheduled_at = utcnow() + timedelta(hours=5)
        case_id = case.id
    env = {**os.environ, "DATABASE_URL": db_url, "SWEEP_INTERVAL_SECONDS": "1"}
    log = tmp_path / "clock.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "clock"], env=env, stdout=fh, stderr=fh
        )
    try:
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline and names != set(SWEEPS):
            time.sleep(0.3)
            with db.session_scope() as session:
                names = {
                    b.name.removeprefix(heartbeat.PREFIX) for b in heartbeat.clock_beats(session)
                } & set(SWEEPS)
        assert names == set(SWEEPS), log.read_text()
        with db.session_scope() as session:
            raised = session.scalars(select(Alert).where(Alert.case_id == case_id)).all()
            assert [(a.kind, a.rung) for a in raised] == [("removal_imminent", 6)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "clock stopped" in log.read_text()


def test_embedded_clock_starts_and_stops(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.clock import start_in_background
    from tracker.settings import get_settings

    monkeypatch.setenv("SWEEP_INTERVAL_SECONDS", "1")
    get_settings.cache_clear()
    stop = start_in_background(get_settings())
    try:
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while time.monotonic() < deadline and not set(SWEEPS) <= seen:
            time.sleep(0.2)
            with db.session_scope() as session:
                seen = {
                    b.name.removeprefix(heartbeat.PREFIX) for b in heartbeat.clock_beats(session)
                }
        assert set(SWEEPS) <= seen
    finally:
        stop()
