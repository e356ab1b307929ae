"""Wake-ups: a committed write that moves a deadline wakes the clock; a queued SMS wakes the worker.

Two channels, ``CLOCK`` and ``OUTBOX``. A transaction marks what it touched (``mark``, or
automatically for flushed cases, requests, alerts and organisations); on commit:

- in this process, every waiter on the channel wakes (``after_commit``: never before the
  rows are visible to the waiter's next query, never for a rolled-back write);
- on PostgreSQL, ``NOTIFY`` is sent inside the writing transaction, so PostgreSQL delivers it
  exactly when (and only if) the transaction commits; ``listen`` bridges it, on a dedicated
  psycopg connection, to the in-process waiters of another process (the clock, the worker).

A lost wake-up costs latency, never an alert: the clock and the worker keep a slow safety
poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

CLOCK = "amparo_clock"
OUTBOX = "amparo_outbox"
CHANNELS = (CLOCK, OUTBOX)

# Flushed rows of these tables can move a deadline (removal, filing, decision, stay expiry,
# an alert's escalation, an organisation's ladder): the clock recomputes its next moment.
DEADLINE_TABLES = frozenset({"cases", "requests", "alerts", "organizations"})

_INFO_KEY = "amparo_wakeups"


class Signal:
    """A broadcast wake-up: every waiter registered when ``fire`` runs wakes once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[threading.Event] = set()

    def waiter(self) -> threading.Event:
        event_ = threading.Event()
        with self._lock:
            self._waiters.add(event_)
        return event_

    def forget(self, waiter: threading.Event) -> None:
        with self._lock:
            self._waiters.discard(waiter)

    def fire(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.set()


SIGNALS: dict[str, Signal] = {channel: Signal() for channel in CHANNELS}


def mark(session: Session, channel: str) -> None:
    """This transaction, once committed, wakes ``channel``'s waiters."""
    marked: set[str] = session.info.setdefault(_INFO_KEY, set())
    if channel in marked:
        return
    marked.add(channel)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Delivered by PostgreSQL at commit, dropped on rollback.
        session.connection().execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def _after_flush(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table not in DEADLINE_TABLES:
            continue
        if table == "cases" and obj in session.new and obj.removal_scheduled_at is None:
            # A new case's only future deadline is its removal: whatever else is due at
            # intake (a staging facility) is raised by sync_case in this transaction, and
            # that alert's row marks the clock. Spares intake the NOTIFY round trip.
            continue
        mark(session, CLOCK)
        return


def _after_commit(session: Session) -> None:
    marked: set[str] = session.info.pop(_INFO_KEY, set())
    for channel in marked:
        SIGNALS[channel].fire()


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


def install(factory: sessionmaker[Session]) -> None:
    """Hook a session factory's sessions (``db.make_sessionmaker`` does it for every one)."""
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_commit", _after_commit)
    event.listen(factory, "after_soft_rollback", lambda s, _prev: _after_rollback(s))


def listen(database_url: str, channels: Iterable[str]) -> Callable[[], None]:
    """On PostgreSQL, bridge ``NOTIFY`` on ``channels`` to this process's waiters; returns stop().

    A no-op elsewhere: SQLite has one process (the embedded default), whose commits fire the
    waiters directly.
    """
    if database_url.startswith("postgres://"):  # as platforms hand it out (db.normalise_url)
        database_url = "postgresql://" + database_url[len("postgres://") :]
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return lambda: None
    import psycopg  # only the PostgreSQL deployments need it

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    names = list(channels)
    stopping = threading.Event()

    def run() -> None:
        backoff = 0.5
        while not stopping.is_set():
            try:
                with psycopg.Connection.connect(conninfo, autocommit=True) as conn:
                    for name in names:
                        conn.execute(f'LISTEN "{name}"')
                    # Anything committed while we were not listening: wake once, at (re)connect.
                    for name in names:
                        SIGNALS[name].fire()
                    backoff = 0.5
                    while not stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.channel in SIGNALS:
                                SIGNALS[note.channel].fire()
            except Exception:  # the database blinked: the safety polls cover the gap
                log.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
                stopping.wait(backoff)
                backoff = min(10.0, backoff * 2)

    thread = threading.Thread(target=run, name="wakeup-listener", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=5)

    return stop
