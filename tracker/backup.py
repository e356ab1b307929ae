"""``amparo backup`` and ``amparo restore``: consistent copies of the database, never the keys.

A backup is a directory ``amparo-<UTC stamp>/`` holding the database file and a
``manifest.json`` (backend, checksum, schema revision, row counts and the key canary's
ciphertext). SQLite is copied with its online backup API and PostgreSQL is dumped with
``pg_dump --format=custom``, both while the product runs. ``DATA_KEYS`` are never written:
a backup is useless without them, which is the point of keeping them apart (``amparo keys
export``).

A restore goes only into an empty database, and refuses before touching it when the current
keys cannot decrypt the backup's canary: restoring data nobody can read would look like
success and be a loss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url

from tracker import canary
from tracker.db import make_engine, normalise_url
from tracker.models import Base

FORMAT = 1
MANIFEST = "manifest.json"
FILES = {"sqlite": "amparo.sqlite3", "postgresql": "amparo.pgdump"}


class BackupError(Exception):
    """A refusal or failure, worded for the operator."""


@dataclass(frozen=True)
class Manifest:
    backend: str
    file: str
    sha256: str
    created_at: str
    revision: str | None
    canary: str | None
    counts: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, directory: Path) -> None:
        (directory / MANIFEST).write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise BackupError(f"{directory} is not an Amparo backup: it has no {MANIFEST}")
        try:
            raw = json.loads(path.read_text())
            manifest = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise BackupError(f"{path} is unreadable: {exc}") from exc
        if manifest.format != FORMAT:
            raise BackupError(f"{path}: backup format {manifest.format} is not {FORMAT}")
        return manifest


def backend_of(url: str) -> str:
    return make_url(normalise_url(url)).get_backend_name()


def _sqlite_path(url: str) -> Path:
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file")
    return Path(database)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _facts(connection: Connection) -> tuple[str | None, str | None, dict[str, int]]:
    """Schema revision, canary ciphertext and row counts, as seen by ``connection``."""
    inspector = inspect(connection)
    revision = None
    if inspector.has_table("alembic_version"):
        revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
    counts = {
        table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
        if inspector.has_table(table.name)
    }
    return revision, canary.read_token(connection), counts


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore; the password goes in the environment,
    where ``ps`` does not show it."""
    parsed: URL = make_url(normalise_url(url))
    args = []
    # ``?host=/var/run/postgresql`` names a Unix socket directory (docs/deploy.md).
    host = parsed.host or parsed.query.get("host")
    if isinstance(host, str) and host:
        args += ["--host", host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    args += ["--dbname", parsed.database or "postgres"]
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _run(command: Sequence[str], env: dict[str, str]) -> None:
    binary = shutil.which(command[0])
    if binary is None:
        raise BackupError(
            f"{command[0]} is not installed: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client)"
        )
    # The arguments are ours; only DATABASE_URL's parts reach them, as separate arguments.
    done = subprocess.run(  # noqa: S603
        [binary, *command[1:]], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def _backup_sqlite(url: str, target: Path) -> tuple[str | None, str | None, dict[str, int]]:
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"no database at {source_path}")
    # The online backup API copies a consistent snapshot page by page while others write.
    with (
        contextlib.closing(sqlite3.connect(source_path, timeout=15)) as source,
        contextlib.closing(sqlite3.connect(target)) as dest,
    ):
        source.backup(dest)
    return _read_sqlite_facts(target)


def _read_sqlite_facts(path: Path) -> tuple[str | None, str | None, dict[str, int]]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return _facts(connection)
    finally:
        engine.dispose()


def _backup_postgres(url: str, target: Path) -> tuple[str | None, str | None, dict[str, int]]:
    args, env = _libpq(url)
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            # One snapshot for the facts and the dump: counts and canary describe the dump.
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            facts = _facts(connection)
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(target),
                    *args,
                ],
                env,
            )
            connection.rollback()
    finally:
        engine.dispose()
    return facts


def backup(url: str, out: Path, now: datetime) -> Path:
    """Write a backup of ``url`` under ``out``; returns the new backup's directory."""
    backend = backend_of(url)
    if backend not in FILES:
        raise BackupError(f"cannot back up a {backend} database")
    out.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    final = out / f"amparo-{stamp}"
    if final.exists():
        raise BackupError(f"{final} already exists")
    partial = out / f".amparo-{stamp}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    try:
        target = partial / FILES[backend]
        if backend == "sqlite":
            revision, token, counts = _backup_sqlite(url, target)
        else:
            revision, token, counts = _backup_postgres(url, target)
        os.chmod(target, 0o600)
        Manifest(
            backend=backend,
            file=target.name,
            sha256=_sha256(target),
            created_at=now.isoformat(),
            revision=revision,
            canary=token,
            counts=counts,
        ).write(partial)
        # Only a complete backup ever carries the final name.
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


@contextlib.contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _existing_tables(url: str) -> list[str]:
    if backend_of(url) == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return []
    with _engine(url) as engine:
        return sorted(inspect(engine).get_table_names())


def check_restorable(directory: Path, url: str, keys: Sequence[str]) -> Manifest:
    """Every refusal, before anything is written: wrong keys, wrong backend, non-empty target."""
    manifest = Manifest.read(directory)
    dump = directory / manifest.file
    if not dump.is_file():
        raise BackupError(f"{dump} is missing")
    if _sha256(dump) != manifest.sha256:
        raise BackupError(f"{dump} does not match its checksum: the backup is damaged")
    if manifest.canary is None:
        raise BackupError(
            "this backup has no key canary (it was made before `amparo migrate` wrote one), "
            "so the keys cannot be checked: run `amparo migrate` where it came from and back up "
            "again"
        )
    if not canary.opens(manifest.canary, keys):
        raise BackupError(
            "refused: the current DATA_KEYS cannot decrypt this backup's key canary, so every "
            "name, A-number and phone in it would be unreadable. Set DATA_KEYS (and "
            "DATA_INDEX_KEY) to the keys in use when the backup was made — from your offline "
            "escrow copy (`amparo keys export`) — and run restore again"
        )
    backend = backend_of(url)
    if backend != manifest.backend:
        raise BackupError(
            f"this is a {manifest.backend} backup but DATABASE_URL is {backend}: restore into "
            f"a {manifest.backend} database"
        )
    tables = _existing_tables(url)
    if tables:
        raise BackupError(
            f"refused: the target database is not empty ({len(tables)} tables, e.g. "
            f"{', '.join(tables[:3])}). Restore only into a new, empty database: create one, "
            "point DATABASE_URL at it, and run restore again (do not run `amparo migrate` first)"
        )
    return manifest


def restore(directory: Path, url: str, keys: Sequence[str]) -> Manifest:
    """Restore the backup in ``directory`` into the empty database ``url``."""
    manifest = check_restorable(directory, url, keys)
    dump = directory / manifest.file
    if manifest.backend == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            contextlib.closing(sqlite3.connect(dump)) as source,
            contextlib.closing(sqlite3.connect(target)) as dest,
        ):
            source.backup(dest)
    else:
        args, env = _libpq(url)
        # One transaction: a failed restore leaves the database as empty as it was.
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                *args,
                str(dump),
            ],
            env,
        )
    with _engine(url) as engine, engine.connect() as connection:
        revision, _token, counts = _facts(connection)
        state = canary.state(connection, keys)
    if counts != manifest.counts or revision != manifest.revision:
        raise BackupError(
            f"restored database differs from the backup's manifest: {counts} != {manifest.counts}"
        )
    if state is not canary.CanaryState.ok:
        raise BackupError(f"restored database's key canary: {state.value}")
    return manifest
