"""The append-only audit log. Sensitive values never enter it in clear."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from tracker.models import AuditEntry
from tracker.services import Actor
from tracker.types import utcnow

# Fields whose values are recorded only as "changed" — the audit log is read by admins and
# coordinators, and must not become a second, unencrypted copy of who these people are.
SENSITIVE_FIELDS = frozenset(
    {"given_name", "family_name", "a_number", "phone", "name", "notes", "oncall_phone", "password"}
)
REDACTED = "[redacted]"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def snapshot(record: object, fields: Iterable[str]) -> dict[str, Any]:
    """The audited ``fields`` of ``record`` as they stand, for ``diff``."""
    return {name: getattr(record, name) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` of the fields that changed, sensitive ones redacted."""
    changes: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = _plain(before.get(name)), _plain(after.get(name))
        if old == new:
            continue
        if name in SENSITIVE_FIELDS:
            changes[name] = [
                REDACTED if old is not None else None,
                REDACTED if new is not None else None,
            ]
        else:
            changes[name] = [old, new]
    return changes


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None,
    changes: Mapping[str, Any] | None = None,
    *,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        **row(actor, action, entity, entity_id, changes, organization_id=organization_id, now=now)
    )
    session.add(entry)
    return entry


def row(
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None,
    changes: Mapping[str, Any] | None = None,
    *,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The values of one audit entry, for ``append_many``."""
    return {
        "organization_id": organization_id or actor.organization_id,
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id) if entity_id is not None else None,
        "changes": dict(changes or {}),
        "at": now or utcnow(),
    }


def append_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert audit entries (``row``) in one batch, without the unit of work (no objects, no
    RETURNING of their ids), in the session's transaction: what a sweep raising a thousand
    alerts writes, at the cost of a few multi-row INSERTs."""
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)  # type: ignore[arg-type]


def append(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    changes: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """As ``record``, for a caller that does not need the entry back: one INSERT sent now,
    without the unit of work, in the session's transaction (in AUTOCOMMIT it commits on its
    own)."""
    append_many(session, [row(actor, action, entity, entity_id, changes, now=now)])


def record_read(
    session: Session,
    actor: Actor,
    entity: str,
    entity_id: object,
    *,
    now: datetime | None = None,
) -> None:
    """Audit a read (``append``). In a read-only request (``Operation.read_only``: AUTOCOMMIT)
    the read is on record even if answering it fails afterwards."""
    append(session, actor, "read", entity, entity_id, now=now)


def created(
    session: Session,
    actor: Actor,
    row: Any,
    entity: str,
    changes: Mapping[str, Any],
    *,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Insert ``row`` (flushed, so it has its id) and audit its creation."""
    session.add(row)
    session.flush()
    return record(
        session, actor, "create", entity, row.id, changes, organization_id=organization_id, now=now
    )
