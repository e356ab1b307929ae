"""Fixtures for fault injection: a private PostgreSQL cluster that tests may stop and start.

Never the machine's shared server: other engineers' tests use it while these run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import KEEP_TABLES
from tests.reliability.pgcluster import ClusterUnavailable, PrivatePostgres
from tracker import db
from tracker.migrate import upgrade
from tracker.settings import get_settings


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A started, migrated private cluster; destroyed at the end of the session."""
    try:
        cluster = PrivatePostgres()
    except ClusterUnavailable as exc:
        if os.environ.get("CI_REQUIRE_POSTGRES"):
            pytest.fail(f"fault injection needs PostgreSQL server binaries: {exc}")
        pytest.skip(f"fault injection needs PostgreSQL server binaries: {exc}")
    try:
        cluster.start()
        upgrade(cluster.url)
        yield cluster
    finally:
        db.reset()
        cluster.destroy()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
                if r[0] not in KEEP_TABLES
            ]
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def private_db(private_pg: PrivatePostgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The private cluster, running and emptied, set as DATABASE_URL for this test."""
    if not private_pg.running():
        private_pg.start()
    _truncate(private_pg.url)
    monkeypatch.setenv("DATABASE_URL", private_pg.url)
    get_settings.cache_clear()
    db.reset()
    yield private_pg.url
    db.reset()
    get_settings.cache_clear()
    if not private_pg.running():  # a failed scenario must not leave it down for the next
        private_pg.start()
