"""The restore drill: back up a populated database while it is open, restore it into a new
one, and find every row of every table — decrypted — unchanged. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.jobs import world as jw
from tracker import backup, canary, db
from tracker.cli import main
from tracker.migrate import upgrade
from tracker.models import Alert, Base, Case, Contact, Notification, Request
from tracker.schemas import RequestCreate
from tracker.services import requests as request_service
from tracker.settings import get_settings
from tracker.vocab import RequestKind


def _populate(session: Session) -> None:
    w = jw.world(session)
    case = jw.new_case(session, w, removal_scheduled_at=jw.T0 + timedelta(hours=30))
    request_service.create_request(
        session,
        w.actor,
        case,
        RequestCreate(kind=RequestKind.stay_of_removal, filed_at=jw.T0),
        jw.T0,
    )
    jw.sweep(session, jw.T0 + timedelta(minutes=1))
    # Every kind of row the drill must bring back.
    for model in (Case, Request, Contact, Alert, Notification):
        assert session.scalar(select(model.id).limit(1)) is not None, model


def _every_row(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, decrypted (EncryptedText columns), in primary-key order."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty (never migrated) database on the same backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'amparo.sqlite3'}"
        return
    admin_url = (
        os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"amparo_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(db.normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(db.normalise_url(admin_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _ensure_canary(url: str) -> None:
    engine = db.make_engine(url)
    with engine.begin() as conn:
        canary.ensure(conn, jw.T0)
    engine.dispose()


def test_restore_drill_brings_back_every_row(
    session: Session, db_url: str, empty_url: str, tmp_path: Path, backend: str
) -> None:
    _ensure_canary(db_url)
    _populate(session)
    session.commit()
    # The product keeps running: a session stays open on the source during the backup.
    directory = backup.backup(db_url, tmp_path / "backups", jw.T0)
    before = _every_row(db_url)
    session.close()

    manifest = backup.restore(directory, empty_url, get_settings().data_keys)

    assert manifest.backend == backend
    after = _every_row(empty_url)
    assert after == before
    assert sum(len(rows) for rows in after.values()) == sum(manifest.counts.values())
    assert after["notifications"] and after["alerts"] and after["contacts"]
    assert after["cases"][0]["given_name"] == "Rosa"  # decrypted, not ciphertext


def test_backup_never_contains_the_data_keys(session: Session, db_url: str, tmp_path: Path) -> None:
    _ensure_canary(db_url)
    _populate(session)
    session.commit()
    directory = backup.backup(db_url, tmp_path / "b", jw.T0)
    settings = get_settings()
    secrets = [k.encode() for k in settings.data_keys] + [settings.data_index_key.encode()]
    for path in directory.iterdir():
        raw = path.read_bytes()
        assert not any(s in raw for s in secrets), path.name
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["canary"] and manifest["counts"]["cases"] == 1


def test_restore_refuses_a_backup_the_current_keys_cannot_open(
    db_url: str, empty_url: str, tmp_path: Path
) -> None:
    _ensure_canary(db_url)
    directory = backup.backup(db_url, tmp_path / "b", jw.T0)
    other_keys = (Fernet.generate_key().decode(),)
    with pytest.raises(backup.BackupError, match="cannot decrypt this backup's key canary"):
        backup.restore(directory, empty_url, other_keys)
    # Nothing was written.
    assert backup._existing_tables(empty_url) == []
    # Old and new keys together (a rotation in progress) do open it.
    backup.restore(directory, empty_url, other_keys + get_settings().data_keys)


def test_restore_refuses_a_database_that_is_not_empty(
    db_url: str, empty_url: str, tmp_path: Path
) -> None:
    _ensure_canary(db_url)
    directory = backup.backup(db_url, tmp_path / "b", jw.T0)
    upgrade(empty_url)  # e.g. someone ran `amparo migrate` first
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(directory, empty_url, get_settings().data_keys)


def test_restore_refuses_a_damaged_backup(db_url: str, empty_url: str, tmp_path: Path) -> None:
    _ensure_canary(db_url)
    directory = backup.backup(db_url, tmp_path / "b", jw.T0)
    manifest = backup.Manifest.read(directory)
    with (directory / manifest.file).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(backup.BackupError, match="checksum"):
        backup.restore(directory, empty_url, get_settings().data_keys)


def test_cli_backup_then_restore(
    db_url: str,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _ensure_canary(db_url)
    assert main(["backup", "--out", str(tmp_path / "b")]) == 0
    written = capsys.readouterr().out
    directory = next((tmp_path / "b").iterdir())
    assert str(directory) in written and "NOT in it" in written
    monkeypatch.setenv("DATABASE_URL", empty_url)
    get_settings.cache_clear()
    db.reset()
    assert main(["restore", str(directory)]) == 0
    assert "restored" in capsys.readouterr().out
    # A second restore into the now-populated database is refused with a message, exit 1.
    assert main(["restore", str(directory)]) == 1
    assert "not empty" in capsys.readouterr().err
    monkeypatch.setenv("DATA_KEYS", Fernet.generate_key().decode())
    get_settings.cache_clear()
    monkeypatch.setenv("DATABASE_URL", empty_url + "-other" if "sqlite" in empty_url else db_url)
    assert main(["restore", str(directory)]) == 1
    assert "cannot decrypt" in capsys.readouterr().err


def test_keys_export_prints_keys_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "export"]) == 0
    out = capsys.readouterr()
    assert f"DATA_KEYS={','.join(get_settings().data_keys)}" in out.out
    assert "Never put them in a backup" in out.err
