"""SQLite writers of one process queue on one lock per database file (``tracker.db``).

The lock replaces SQLite's own polling for the write lock inside a process; these tests check
that it is shared by every engine on the file, that every way a transaction can end lets it
go (a leak would stall every writer for the wait bound), and that reads never take it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tracker import db


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "writers.sqlite3"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (n INTEGER NOT NULL, who TEXT NOT NULL)"))
    yield engine
    engine.dispose()


def _lock(path: Path) -> threading.Lock:
    return db._writer_lock(str(path))


def test_engines_on_one_file_share_one_lock_and_a_writer_waits_its_turn(
    path: Path, engine: Engine
) -> None:
    other = db.make_engine(f"sqlite:///{path}")
    lock = _lock(path)
    assert db._writer_lock(str(path.parent / "." / path.name)) is lock
    finished = threading.Event()

    def second_writer() -> None:
        with other.begin() as conn:
            conn.execute(text("INSERT INTO events VALUES (2, 'second')"))
        finished.set()

    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO events VALUES (1, 'first')"))
            assert lock.locked()
            thread = threading.Thread(target=second_writer)
            thread.start()
            # The second writer is queued behind this transaction, not failing or writing.
            assert not finished.wait(0.3)
        thread.join(timeout=10)
        assert finished.is_set()
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT n, who FROM events ORDER BY rowid")).all()
        assert [tuple(r) for r in rows] == [(1, "first"), (2, "second")]
        assert not lock.locked()
    finally:
        other.dispose()


def test_every_end_of_a_transaction_lets_the_lock_go(path: Path, engine: Engine) -> None:
    lock = _lock(path)
    factory: sessionmaker[Session] = sessionmaker(bind=engine)

    # An error inside a unit of work: rolled back.
    with pytest.raises(RuntimeError), factory.begin() as session:
        session.execute(text("INSERT INTO events VALUES (1, 'rolled back')"))
        raise RuntimeError("boom")
    assert not lock.locked()

    # A statement the database refuses, then the session closed without a commit.
    session = factory()
    with pytest.raises(Exception, match="NOT NULL"):
        session.execute(text("INSERT INTO events VALUES (NULL, 'refused')"))
    assert lock.locked()
    session.close()
    assert not lock.locked()

    # A connection thrown away in the middle of its transaction.
    conn = engine.connect()
    conn.begin()
    conn.execute(text("INSERT INTO events VALUES (3, 'invalidated')"))
    assert lock.locked()
    conn.invalidate()
    assert not lock.locked()
    conn.rollback()
    conn.close()

    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0


def test_reads_without_a_transaction_do_not_queue(path: Path, engine: Engine) -> None:
    reads = engine.execution_options(**{db._AUTOCOMMIT_OPTION: True})
    counted: list[int] = []

    def read() -> None:
        with reads.connect() as conn:
            counted.append(conn.execute(text("SELECT count(*) FROM events")).scalar_one())

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events VALUES (1, 'uncommitted')"))
        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=5)
        # Answered while the writer held the lock, from the last committed state.
        assert counted == [0]
    assert not _lock(path).locked()
