"""``amparo dispatch --once``, ``amparo worker`` (a real process; SIGTERM), ``amparo messages``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications.events import notify_family
from tests.notifications import helpers
from tracker import db
from tracker.cli import main
from tracker.models import Notification
from tracker.services.delivery import REACTIONS
from tracker.settings import get_settings
from tracker.types import utcnow
from tracker.vocab import NotificationStatus


def _statuses() -> set[NotificationStatus]:
    with db.get_sessionmaker()() as s:
        return set(s.scalars(select(Notification.status)))


def test_dispatch_once_sends_what_is_due(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    w = helpers.world(session)
    w.family.introduced_at = utcnow()
    notify_family(session, w.case, "released", "cli", utcnow())
    session.commit()
    assert main(["dispatch", "--once"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["sent"] == 1
    assert _statuses() == {NotificationStatus.sent}


def test_messages_review_lists_pending_strings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", "review"]) == 0
    out = capsys.readouterr().out
    for lang in ("es", "ht", "fr", "pt"):
        assert f"{lang}: " in out and "awaiting native review" in out


@pytest.mark.slow
def test_worker_process_sends_and_stops_on_sigterm(session: Session, db_url: str) -> None:
    w = helpers.world(session)
    session.commit()
    amparo = Path(sys.executable).with_name("amparo")
    env = {**os.environ, "DATABASE_URL": db_url, "WORKER_POLL_SECONDS": "0.2"}
    proc = subprocess.Popen([str(amparo), "worker"], env=env, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        notify_family(session, w.case, "released", "live", utcnow())
        session.commit()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _statuses() != {NotificationStatus.sent}:
            time.sleep(0.1)
        assert _statuses() == {NotificationStatus.sent}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    log = err.decode()
    assert w.family.phone not in log and w.family.phone[-4:] in log  # masked recipient
    assert "Pérez" not in log


def test_embedded_worker_thread_sends_and_stops(session: Session) -> None:
    from notifications.dispatcher import start_in_background

    w = helpers.world(session)
    w.family.introduced_at = utcnow()
    session.commit()
    stop = start_in_background(get_settings(), REACTIONS)
    try:
        notify_family(session, w.case, "released", "embedded", utcnow())
        session.commit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _statuses() != {NotificationStatus.sent}:
            time.sleep(0.05)
        assert _statuses() == {NotificationStatus.sent}
    finally:
        stop()
