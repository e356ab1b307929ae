"""Engine and session factory: a SQLite file by default, PostgreSQL by DATABASE_URL."""

from __future__ import annotations

import functools
import logging
import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tracker import wakeups
from tracker.settings import Settings, get_settings

log = logging.getLogger("amparo.db")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (platforms hand those out)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web, the clock and the worker read while one of them writes;
    # busy_timeout makes a concurrent writer wait instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_WRITER_WAIT_SECONDS * 1000)}")
    cursor.close()


# SQLite lets one writer in at a time, and a writer that finds the file locked polls for it,
# sleeping 1, 2, 5 … up to 100 ms between tries: when the clock, the SMS worker and its
# result writer wrote in bursts, a write waited hundreds of ms after the file was free
# (the alert-latency benchmark's tail). So the writers of one process queue on a lock of
# their own and are woken the moment it is let go; other processes still meet busy_timeout.
SQLITE_WRITER_WAIT_SECONDS = 15.0
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()
# In a connection's ``info``: this connection's transaction holds its file's writer lock.
_HOLDS_WRITER_LOCK = "amparo_writer_lock"


def _writer_lock(database: str) -> threading.Lock:
    """The one lock for this database file in this process, whichever engine opens it."""
    key = os.path.realpath(database)
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())


def _queue_sqlite_writers(engine: Engine, lock: threading.Lock) -> None:
    """Take ``lock`` before each ``BEGIN IMMEDIATE`` and let it go when the transaction
    ends, however it ends (commit, rollback, a connection returned or thrown away)."""

    def let_go(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_WRITER_LOCK, False):
            lock.release()

    @event.listens_for(engine, "begin")
    def begin(conn: Any) -> None:
        if is_autocommit(conn):
            return
        # Bounded: were a release ever missed, writers fall back to SQLite's own waiting
        # instead of queueing for ever.
        held = lock.acquire(timeout=SQLITE_WRITER_WAIT_SECONDS)
        if not held:
            log.warning(
                "waited %.0f s for this process's SQLite writer lock; going on without it",
                SQLITE_WRITER_WAIT_SECONDS,
            )
        conn.info[_HOLDS_WRITER_LOCK] = held
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            let_go(conn.info)
            raise

    # Before the COMMIT or ROLLBACK itself: a writer let in a moment early meets SQLite's
    # lock for well under a millisecond (its first retry is 1 ms later).
    def ended(conn: Any) -> None:
        # An invalidated connection has no info to read (it let go when it was invalidated).
        if not conn.invalidated:
            let_go(conn.info)

    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    event.listen(engine, "checkin", lambda _dbapi, record: let_go(record.info))
    event.listen(engine, "invalidate", lambda _dbapi, record, _exc: let_go(record.info))


def _private_sqlite_file(database: str) -> None:
    """The database and its -wal/-shm readable by this user only (0600), in a 0700 folder.

    SQLite gives -wal and -shm the mode of the database file, so creating that file 0600
    before SQLite opens it covers all three; files of an older install are tightened here."""
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in (path, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            if file.stat().st_uid == os.getuid():
                file.chmod(0o600)
        except FileNotFoundError:
            pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    # A failed statement's message must not carry its parameters (names, A-numbers) to a log.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"timeout": SQLITE_WRITER_WAIT_SECONDS}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a
        # transaction that reads then writes holds one consistent snapshot. A connection in
        # AUTOCOMMIT (``read_sessionmaker``) runs each statement on its own, taking no lock.
        if parsed.database and parsed.database != ":memory:":
            _queue_sqlite_writers(engine, _writer_lock(parsed.database))
        else:
            event.listen(engine, "begin", _sqlite_begin)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    # No pre-ping (a round trip on every checkout): ``_drop_dead_connection`` finds a
    # connection the server closed (restart, pg_terminate_backend, idle timeout) without one,
    # and connections are replaced after an hour for what it cannot see (a silent NAT drop).
    kwargs.setdefault("pool_recycle", 3600)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # Statements reach PostgreSQL with its own ``$n`` placeholders and go out as written
    # (psycopg's RawCursor). With the default ``%(name)s`` style psycopg re-parses each
    # statement on the client and caches only short ones: a sweep's multi-row INSERTs (15,000
    # parameters each) spent a quarter of their CPU being parsed.
    kwargs.setdefault("paramstyle", "numeric_dollar")
    kwargs["connect_args"] = {"cursor_factory": psycopg.RawCursor, **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _drop_dead_connection)
    return engine


# The execution option of ``get_read_sessionmaker``'s connections on SQLite. Not SQLAlchemy's
# AUTOCOMMIT level there: sqlite3 already runs in autocommit (``_no_autobegin``), and resetting
# that level when the connection goes back to the pool would switch sqlite3's implicit BEGIN
# back on and run a PRAGMA every time.
_AUTOCOMMIT_OPTION = "amparo_autocommit"


def is_autocommit(conn: Any) -> bool:
    """Whether this SQLAlchemy connection runs each statement on its own (no BEGIN/COMMIT)."""
    options = conn.get_execution_options()
    return bool(options.get("isolation_level") == "AUTOCOMMIT" or options.get(_AUTOCOMMIT_OPTION))


def _sqlite_begin(conn: Any) -> None:
    if not is_autocommit(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _drop_dead_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection whose socket the server has closed; the pool opens another.

    An idle connection has nothing to read: when its socket is readable, the server has sent
    its last words (a shutdown or termination notice) or closed it. Checked with a zero-timeout
    poll of the socket, so a healthy checkout costs no round trip (what pool_pre_ping costs).
    A connection that LISTENs may have a notification waiting and be replaced needlessly —
    one reconnect, never an error.
    """
    if dbapi_connection.closed or getattr(dbapi_connection, "broken", False):
        raise exc.DisconnectionError("connection closed")
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as error:
        raise exc.DisconnectionError("connection socket unusable") from error
    if readable:
        raise exc.DisconnectionError("the server closed the connection")


@functools.cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def make_sessionmaker(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    """Sessions that carry the settings they were made with (``settings_of``), so that code
    deep in a transaction (quiet hours, the default zone) is handed them with the session
    instead of reading the environment."""
    factory = sessionmaker(bind=engine, expire_on_commit=False, info={"settings": settings})
    wakeups.install(factory)
    return factory


def settings_of(session: Session) -> Settings:
    settings = session.info.get("settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("this session was not made by db.make_sessionmaker(engine, settings)")
    return settings


@functools.cache
def get_sessionmaker() -> sessionmaker[Session]:
    return make_sessionmaker(get_engine(), get_settings())


@functools.cache
def get_read_sessionmaker() -> sessionmaker[Session]:
    """Sessions whose statements each commit on their own: no BEGIN and COMMIT round trips,
    and on SQLite no write lock, for requests that only read (and append an audit row).

    Under READ COMMITTED every statement sees its own snapshot anyway, so reads lose nothing;
    anything that writes two rows that must stand or fall together uses ``get_sessionmaker``.
    """
    return make_read_sessionmaker(get_engine(), get_settings())


def make_read_sessionmaker(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    """``get_read_sessionmaker`` over any engine (a report process opens its own)."""
    if engine.dialect.name == "sqlite":
        reads = engine.execution_options(**{_AUTOCOMMIT_OPTION: True})
    else:
        reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    return make_sessionmaker(reads, settings)


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    session = (factory or get_sessionmaker())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset() -> None:
    """Forget the cached engine (tests and CLI switching DATABASE_URL)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
    get_read_sessionmaker.cache_clear()
