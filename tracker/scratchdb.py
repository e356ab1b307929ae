"""A scratch PostgreSQL database beside ``DATABASE_URL``'s, for the restore drill
(``deploy/restore-drill.sh``): ``python -m tracker.scratchdb create|drop|url NAME``."""

from __future__ import annotations

import re
import sys

from sqlalchemy import text
from sqlalchemy.engine import make_url

from tracker.db import make_engine, normalise_url
from tracker.settings import get_settings

_NAME = re.compile(r"^amparo_drill_\w+$")


def scratch_url(name: str) -> str:
    url = make_url(normalise_url(get_settings().database_url)).set(database=name)
    return url.render_as_string(hide_password=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("create", "drop", "url") or not _NAME.match(argv[1]):
        print(
            "usage: python -m tracker.scratchdb create|drop|url amparo_drill_NAME", file=sys.stderr
        )
        return 2
    action, name = argv
    if action == "url":
        print(scratch_url(name))
        return 0
    engine = make_engine(get_settings().database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # The name is checked against _NAME above: safe to put in the statement.
            if action == "create":
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
