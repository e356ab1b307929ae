"""Key rotation: re-encrypt every encrypted column under the newest of ``DATA_KEYS`` and
rebuild the blind indexes under the current ``DATA_INDEX_KEY``.

How to rotate (README, "Encryption at rest"):

1. prepend a new key: ``DATA_KEYS=new,old`` (the newest encrypts, all decrypt);
2. ``amparo rotate-keys``: every value is re-encrypted under ``new``;
3. drop ``old`` from ``DATA_KEYS``. ``DATA_INDEX_KEY`` defaults to the *oldest* data key, so
   either set it explicitly before dropping ``old``, or run ``amparo rotate-keys`` again after:
   it recomputes the A-number, phone and name-word indexes, so search keeps working.

Rows are read as raw ciphertext (no decryption through the ORM type) and written back by
primary key in batches, each batch its own transaction: rotation is idempotent, so an
interrupted run is simply run again. Values already under the newest key are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import (
    Column,
    MetaData,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from tracker import crypto, validators
from tracker.models import Base, CaseNameToken
from tracker.types import EncryptedText

log = logging.getLogger(__name__)
BATCH = 500

# Blind indexes: (table, encrypted column, index column, normaliser).
_INDEXES: tuple[tuple[str, str, str, Callable[[str], str]], ...] = (
    ("cases", "a_number", "a_number_hash", validators.a_number_hash),
    ("contacts", "phone", "phone_hash", validators.phone_hash),
    ("users", "phone", "phone_hash", validators.phone_hash),
)


@dataclass
class RotationReport:
    rotated: dict[str, int] = field(default_factory=dict)
    already_current: int = 0
    reindexed: int = 0

    def lines(self) -> list[str]:
        out = [f"{name}: {count} value(s) re-encrypted" for name, count in self.rotated.items()]
        out.append(f"{self.already_current} value(s) already under the newest key")
        out.append(f"{self.reindexed} blind index value(s) rebuilt")
        return out


def encrypted_columns() -> dict[Table, list[Column[Any]]]:
    """Every column of every table whose type is ``EncryptedText``."""
    found: dict[Table, list[Column[Any]]] = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedText)]
        if columns:
            found[table] = columns
    return found


def _raw_table(table: Table, names: list[str]) -> Table:
    """The table's primary key and ``names`` as plain text: ciphertext read undecrypted."""
    return Table(
        table.name,
        MetaData(),
        *[Column(c.name, c.type, primary_key=True) for c in table.primary_key.columns],
        *[Column(name, Text) for name in names],
    )


def _batches(session: Session, raw: Table) -> Iterator[list[Any]]:
    """Rows in primary-key order, a batch at a time (keyset pagination: no OFFSET)."""
    pk = list(raw.primary_key.columns)
    last: tuple[Any, ...] | None = None
    while True:
        stmt = select(*raw.columns).order_by(*pk).limit(BATCH)
        if last is not None:
            stmt = stmt.where(tuple_(*pk) > tuple_(*last))
        rows = list(session.execute(stmt))
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][: len(pk)])


def rotate_all(factory: sessionmaker[Session]) -> RotationReport:
    """Re-encrypt every encrypted value under the newest key, then rebuild the indexes."""
    newest = Fernet(crypto.data_keys()[0].encode())
    report = RotationReport()
    for table, columns in encrypted_columns().items():
        names = [c.name for c in columns]
        raw = _raw_table(table, names)
        pk = list(raw.primary_key.columns)
        rotated = 0
        with factory() as session:
            for rows in _batches(session, raw):
                for row in rows:
                    changed: dict[str, str] = {}
                    for name, value in zip(names, row[len(pk) :], strict=True):
                        if value is None:
                            continue
                        try:
                            newest.decrypt(value.encode("ascii"))
                            report.already_current += 1
                        except InvalidToken:
                            changed[name] = crypto.rotate(value)
                    if changed:
                        rotated += len(changed)
                        where = and_(*[c == v for c, v in zip(pk, row[: len(pk)], strict=True)])
                        session.execute(update(raw).where(where).values(changed))
                session.commit()
        report.rotated[table.name] = rotated
        log.info("rotate-keys: %s: %d value(s) re-encrypted", table.name, rotated)
    report.reindexed = reindex(factory)
    return report


def reindex(factory: sessionmaker[Session]) -> int:
    """Recompute the blind indexes under the current ``DATA_INDEX_KEY``; returns changes."""
    changed = 0
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    for table_name, value_column, hash_column, digest in _INDEXES:
        table = tables[table_name]
        raw = _raw_table(table, [value_column, hash_column])
        with factory() as session:
            for rows in _batches(session, raw):
                for row in rows:
                    pk_value, ciphertext, stored = row[0], row[1], row[2]
                    if ciphertext is None:
                        continue
                    plain = crypto.decrypt(ciphertext)
                    if table_name == "cases":
                        plain = validators.a_number(plain)
                    fresh = digest(plain)
                    if fresh != stored:
                        session.execute(
                            update(table).where(table.c.id == pk_value).values({hash_column: fresh})
                        )
                        changed += 1
                session.commit()
    changed += _reindex_names(factory)
    return changed


def _reindex_names(factory: sessionmaker[Session]) -> int:
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    cases = tables["cases"]
    changed = 0
    with factory() as session:
        for rows in _batches(session, _raw_table(cases, ["given_name", "family_name"])):
            for case_id, given, family in rows:
                wanted = crypto.name_tokens(
                    crypto.decrypt(given) if given else None,
                    crypto.decrypt(family) if family else None,
                )
                have = set(
                    session.scalars(
                        select(CaseNameToken.token).where(CaseNameToken.case_id == case_id)
                    )
                )
                if have == wanted:
                    continue
                session.execute(delete(CaseNameToken).where(CaseNameToken.case_id == case_id))
                session.execute(
                    insert(CaseNameToken), [{"case_id": case_id, "token": t} for t in wanted]
                )
                changed += 1
            session.commit()
    return changed
