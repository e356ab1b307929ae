"""Run Alembic migrations from code (the CLI, `make run`, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from tracker import canary
from tracker.db import make_engine
from tracker.types import utcnow

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            canary.ensure(connection, utcnow())
    finally:
        engine.dispose()
