"""Retention: closed cases older than their organisation's ``retention_days`` are purged.

A purged case goes with everything that hangs off it (contacts, requests, alerts, outbox
rows, timeline, name tokens): the database's ``ON DELETE CASCADE`` does that, on SQLite and
PostgreSQL alike. The audit entries about those rows go too (their non-sensitive values, a
country of birth, a removal date, would still describe the person); what stays is one
``purge`` entry per organisation saying when, by whom, and how many rows of each kind.

Idempotent and safe to run twice at once (the clock runs it daily; a second clock does no
harm): a case already gone is simply not counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    CaseNameToken,
    Contact,
    ConversationMessage,
    Notification,
    Organization,
    Request,
    TimelineEvent,
)
from tracker.services import Actor, audit

ACTOR = Actor.system("retention")
BATCH = 500
# What a purge removes, in the order shown to people.
COUNTED = (
    "cases",
    "contacts",
    "requests",
    "alerts",
    "notifications",
    "conversation_messages",
    "timeline_events",
    "name_tokens",
    "audit_entries",
)


@dataclass
class OrgPurge:
    organization_id: uuid.UUID
    organization: str
    retention_days: int
    cutoff: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))


@dataclass
class PurgeReport:
    now: datetime
    dry_run: bool
    organizations: list[OrgPurge] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(o.counts["cases"] for o in self.organizations)

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        out = []
        for o in self.organizations:
            detail = ", ".join(f"{o.counts[k]} {k.replace('_', ' ')}" for k in COUNTED)
            out.append(
                f"{o.organization}: {verb} {detail} "
                f"(closed before {o.cutoff.date().isoformat()}, {o.retention_days} days)"
            )
        return out or ["nothing to purge"]


def _count(session: Session, model: type[object], where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(where)) or 0)


def _counts(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    return {
        "cases": len(case_ids),
        "contacts": _count(session, Contact, Contact.case_id.in_(case_ids)),
        "requests": _count(session, Request, Request.case_id.in_(case_ids)),
        "alerts": _count(session, Alert, Alert.case_id.in_(case_ids)),
        "notifications": _count(session, Notification, Notification.case_id.in_(case_ids)),
        "conversation_messages": _count(
            session, ConversationMessage, ConversationMessage.case_id.in_(case_ids)
        ),
        "timeline_events": _count(session, TimelineEvent, TimelineEvent.case_id.in_(case_ids)),
        "name_tokens": _count(session, CaseNameToken, CaseNameToken.case_id.in_(case_ids)),
        "audit_entries": _count(session, AuditEntry, _audit_about(session, case_ids)),
    }


def _audit_about(session: Session, case_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """Audit entries whose entity is one of the purged rows.

    Entity ids are text in the audit log while SQLite stores UUIDs as bare hex, so the ids
    are fetched and rendered here rather than cast in SQL.
    """

    def ids_of(
        model: type[Contact] | type[Request] | type[Alert] | type[ConversationMessage],
    ) -> list[str]:
        return [
            str(i) for i in session.scalars(select(model.id).where(model.case_id.in_(case_ids)))
        ]

    return or_(
        (AuditEntry.entity == "case") & AuditEntry.entity_id.in_([str(i) for i in case_ids]),
        (AuditEntry.entity == "contact") & AuditEntry.entity_id.in_(ids_of(Contact)),
        (AuditEntry.entity == "request") & AuditEntry.entity_id.in_(ids_of(Request)),
        (AuditEntry.entity == "alert") & AuditEntry.entity_id.in_(ids_of(Alert)),
        # The two-way inbox: replies sent, and conversations opened (audited by case id).
        (AuditEntry.entity == "conversation_message")
        & AuditEntry.entity_id.in_(ids_of(ConversationMessage)),
        (AuditEntry.entity == "conversation")
        & AuditEntry.entity_id.in_([str(i) for i in case_ids]),
    )


def expired_case_ids(session: Session, org: Organization, now: datetime) -> list[uuid.UUID]:
    cutoff = now - timedelta(days=org.retention_days)
    return list(
        session.scalars(
            select(Case.id).where(
                Case.organization_id == org.id,
                Case.closed_at.is_not(None),
                Case.closed_at < cutoff,
            )
        )
    )


def purge_expired(session: Session, now: datetime, dry_run: bool = False) -> PurgeReport:
    """Purge (or with ``dry_run`` only count) every organisation's expired cases.

    The caller owns the transaction; the clock job commits it.
    """
    report = PurgeReport(now=now, dry_run=dry_run)
    for org in session.scalars(select(Organization).order_by(Organization.name)):
        ids = expired_case_ids(session, org, now)
        if not ids:
            continue
        entry = OrgPurge(
            org.id, org.name, org.retention_days, now - timedelta(days=org.retention_days)
        )
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            for name, value in _counts(session, chunk).items():
                entry.counts[name] += value
            if not dry_run:
                _delete(session, chunk)
        report.organizations.append(entry)
        if not dry_run:
            audit.record(
                session,
                ACTOR,
                "purge",
                "case",
                None,
                {name: [None, value] for name, value in entry.counts.items()}
                | {"retention_days": [None, org.retention_days]},
                organization_id=org.id,
                now=now,
            )
    session.flush()
    return report


def _delete(session: Session, case_ids: Sequence[uuid.UUID]) -> None:
    # Audit first: its subqueries find the contacts, requests and alerts still in place.
    session.execute(
        delete(AuditEntry).where(_audit_about(session, case_ids)),
        execution_options={"synchronize_session": False},
    )
    # One statement; ON DELETE CASCADE removes the rest inside the database.
    session.execute(
        delete(Case).where(Case.id.in_(case_ids)),
        execution_options={"synchronize_session": False},
    )


PURGE_INTERVAL_HOURS = 24


def run_purge_job() -> None:
    """The clock's daily job: purge in one transaction, log the counts (never names)."""
    import logging

    from tracker import db
    from tracker.types import utcnow

    with db.session_scope() as session:
        report = purge_expired(session, utcnow())
    if report.organizations:
        for line in report.lines():
            logging.getLogger(__name__).info("retention: %s", line)
