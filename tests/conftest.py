"""Test fixtures: a real SQLite file and a real PostgreSQL database, both migrated by Alembic.

Every test that asks for ``db_url`` (or ``session``) runs once per backend. PostgreSQL comes
from ``TEST_POSTGRES_URL`` or a local server on 127.0.0.1:5432; when neither answers, the
PostgreSQL half is skipped with that reason (``.ci/run`` refuses to run without it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

_VAR = Path(tempfile.mkdtemp(prefix="amparo-test-var-"))
os.environ.update(
    {
        "VAR_DIR": str(_VAR),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATA_KEYS": Fernet.generate_key().decode(),
        "SMS_TRANSPORT": "log",
        "BASE_URL": "http://testserver",
        "QUIET_HOURS": "off",
    }
)
for _name in ("DATABASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DATA_INDEX_KEY"):
    os.environ.pop(_name, None)

from tracker import db  # noqa: E402
from tracker.migrate import upgrade  # noqa: E402
from tracker.settings import get_settings  # noqa: E402

DEFAULT_LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# Reference data that migrations seed and tests keep.
KEEP_TABLES = {"alembic_version", "field_offices"}


def _admin_postgres_url() -> tuple[str | None, str]:
    url = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_LOCAL_POSTGRES
    engine = create_engine(db.normalise_url(url), connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return None, f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {exc}"
    finally:
        engine.dispose()
    return url, ""


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "amparo.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url, reason = _admin_postgres_url()
    if admin_url is None:
        if os.environ.get("CI_REQUIRE_POSTGRES"):
            pytest.fail(reason + " — CI requires PostgreSQL")
        pytest.skip(reason + " — set TEST_POSTGRES_URL to run the PostgreSQL tests")
    name = f"amparo_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(db.normalise_url(admin_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        db.reset()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            if r[0] not in KEEP_TABLES
        ]
        # Reference rows (field offices) stay; liaisons are per organisation, so truncated.
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated, empty database (field offices seeded), set as DATABASE_URL."""
    if request.param == "sqlite":
        path = tmp_path / "amparo.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    db.reset()
    yield url
    db.reset()
    get_settings.cache_clear()


@pytest.fixture
def backend(db_url: str) -> str:
    return make_url(db_url).get_backend_name()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with db.get_sessionmaker()() as s:
        yield s
