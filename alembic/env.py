"""Alembic environment: migrates whatever DATABASE_URL (or ``-x url=``) names."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from alembic import context
from tracker.db import make_engine, normalise_url
from tracker.models import Base
from tracker.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Our TypeDecorators render as their import path so migrations stay self-contained.
    if type_ == "type" and obj.__class__.__module__ == "tracker.types":
        autogen_context.imports.add("import tracker.types")
        return f"tracker.types.{obj.__class__.__name__}()"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or get_settings().database_url
    engine = make_engine(normalise_url(url))
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
