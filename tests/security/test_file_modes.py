"""``var/`` is 0700; the SQLite database and its -wal/-shm are 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tracker.db import make_engine
from tracker.settings import load_settings


@pytest.fixture(params=[0o000, 0o022])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_var_dir_secrets_and_sqlite_files_are_private(tmp_path: Path, umask: int) -> None:
    var = tmp_path / "deep" / "var"
    settings = load_settings({"VAR_DIR": str(var)})
    assert _mode(var) == 0o700
    for secret in ("secret_key", "data_keys"):
        assert _mode(var / secret) == 0o600, secret
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('María')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
            database = var / "amparo.sqlite3"
            files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
            assert all(f.exists() for f in files), "WAL mode makes -wal and -shm"
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        engine.dispose()


def test_an_existing_loose_install_is_tightened(tmp_path: Path, umask: int) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    database = var / "amparo.sqlite3"
    database.touch()
    database.chmod(0o644)
    settings = load_settings({"VAR_DIR": str(var)})
    make_engine(settings.database_url).dispose()
    assert _mode(var) == 0o700
    assert _mode(database) == 0o600


def test_sqlite_folder_outside_var_is_created_private(tmp_path: Path, umask: int) -> None:
    database = tmp_path / "elsewhere" / "db.sqlite3"
    make_engine(f"sqlite:///{database}").dispose()
    assert _mode(database.parent) == 0o700
    assert _mode(database) == 0o600
