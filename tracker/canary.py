"""The key canary: one known sentence encrypted with ``DATA_KEYS``, stored in ``key_canary``.

Losing or mixing up the data keys is silent until someone opens a case; decrypting this one
value tells at once whether the configured keys open this database (``amparo doctor``) or a
backup (``amparo restore``). ``amparo migrate`` writes it when it is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, Connection, Integer, MetaData, Table, Text, inspect, select

from tracker import crypto
from tracker.settings import get_settings
from tracker.types import UTCDateTime

log = logging.getLogger(__name__)

PLAINTEXT = "amparo key canary v1"
TABLE = "key_canary"

# The stored ciphertext as plain text: reading it must not go through EncryptedText, which
# would raise on wrong keys where we want an answer.
_raw = Table(
    TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("value", Text),
    Column("created_at", UTCDateTime()),
)


class CanaryState(StrEnum):
    ok = "ok"
    missing = "missing"  # migrated, but `amparo migrate` has not written it yet
    no_table = "no table"  # the schema predates the canary
    wrong_keys = "wrong keys"


def _decrypts(token: str, keys: Sequence[str]) -> bool:
    try:
        MultiFernet([Fernet(k.encode()) for k in keys]).decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError, UnicodeError):
        return False
    return True


def sample_opens(connection: Connection, keys: Sequence[str]) -> bool | None:
    """Whether ``keys`` decrypt a value already stored (None when nothing is encrypted yet):
    the check for a database that has data but no canary."""
    from tracker.keys import encrypted_columns

    inspector = inspect(connection)
    for table, columns in encrypted_columns().items():
        if table.name == TABLE or not inspector.has_table(table.name):
            continue
        for column in columns:
            raw = Table(table.name, MetaData(), Column(column.name, Text))
            value = connection.scalar(
                select(raw.c[column.name]).where(raw.c[column.name].is_not(None)).limit(1)
            )
            if value is not None:
                return _decrypts(str(value), keys)
    return None


def opens(token: str, keys: Sequence[str]) -> bool:
    """Whether ``keys`` (a ``DATA_KEYS`` list) decrypt ``token`` to the canary sentence."""
    try:
        fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        return fernet.decrypt(token.encode("ascii")).decode("utf-8") == PLAINTEXT
    except (InvalidToken, ValueError, UnicodeError):
        return False


def read_token(connection: Connection) -> str | None:
    if not inspect(connection).has_table(TABLE):
        return None
    value = connection.scalar(select(_raw.c.value).order_by(_raw.c.id).limit(1))
    return None if value is None else str(value)


def state(connection: Connection, keys: Sequence[str]) -> CanaryState:
    if not inspect(connection).has_table(TABLE):
        return CanaryState.no_table
    token = read_token(connection)
    if token is None:
        return CanaryState.missing
    return CanaryState.ok if opens(token, keys) else CanaryState.wrong_keys


def ensure(connection: Connection, now: datetime) -> bool:
    """Write the canary with the current keys unless one exists; True when written."""
    if not inspect(connection).has_table(TABLE) or read_token(connection) is not None:
        return False
    keys = get_settings().data_keys
    if sample_opens(connection, keys) is False:
        # A canary written now would bless keys that cannot read the data already here.
        log.warning(
            "key canary NOT written: DATA_KEYS cannot decrypt the data already stored; "
            "set the keys this database was written with (see `amparo doctor`)"
        )
        return False
    connection.execute(_raw.insert().values(id=1, value=crypto.encrypt(PLAINTEXT), created_at=now))
    return True
