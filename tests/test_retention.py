"""Retention purge on both backends: the database's cascades take every dependent row."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
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
from tracker.retention import purge_expired
from tracker.schemas import CaseUpdate, ContactCreate, RequestCreate
from tracker.services import Actor, conversations
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service

DEPENDENTS = (
    Contact,
    Request,
    Alert,
    Notification,
    TimelineEvent,
    CaseNameToken,
    ConversationMessage,
)


def _full_case(session: Session, actor: Actor, opened: datetime, closed: datetime | None) -> Case:
    """A case with a contact, a request, a family SMS, an alert, timeline and name tokens."""
    case = factories.case(
        session,
        actor,
        opened,
        given_name="Purge",
        family_name="Candidate",
        a_number=f"{uuid.uuid4().int % 10**9:09d}",
        removal_scheduled_at=opened + timedelta(hours=10),
    )
    family = contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(role="family", phone="+12025550161", language="es", sms_consent=True),
        opened,
    )
    # The two-way inbox: a family's question and the reply (issue 15).
    conversations.receive(session, family, "Where is he now?", opened)
    conversations.reply(session, actor, case, family.id, "Still at the same centre.", opened)
    request_service.create_request(
        session, actor, case, RequestCreate(kind="release", filed_at=opened), opened
    )
    if closed is not None:
        case_service.update_case(session, actor, case, CaseUpdate(closed=True), closed)
    return case


def _rows(session: Session, case_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for model in DEPENDENTS:
        column = model.case_id  # type: ignore[attr-defined]
        counts[model.__name__] = int(
            session.scalar(select(func.count()).select_from(model).where(column == case_id)) or 0
        )
    return counts


def test_purge_removes_expired_closed_cases_with_everything_hanging_off_them(
    session: Session,
) -> None:
    org = factories.org(session, NOW)
    org.retention_days = 30
    actor = factories.actor_for(factories.user(session, org, NOW))
    old = _full_case(session, actor, NOW - timedelta(days=60), NOW - timedelta(days=40))
    recent = _full_case(session, actor, NOW - timedelta(days=60), NOW - timedelta(days=10))
    still_open = _full_case(session, actor, NOW - timedelta(days=90), None)
    other_org = factories.org(session, NOW)
    other_org.retention_days = 365
    other_actor = factories.actor_for(factories.user(session, other_org, NOW))
    kept_elsewhere = _full_case(
        session, other_actor, NOW - timedelta(days=90), NOW - timedelta(days=40)
    )
    session.commit()
    old_id = old.id
    kept_ids = [c.id for c in (recent, still_open, kept_elsewhere)]
    before = _rows(session, old_id)
    old_messages = [
        str(i)
        for i in session.scalars(
            select(ConversationMessage.id).where(ConversationMessage.case_id == old_id)
        )
    ]
    assert all(before.values()), before  # every kind of dependent row exists

    dry = purge_expired(session, NOW, dry_run=True)
    session.commit()
    assert [o.organization for o in dry.organizations] == [org.name]
    counts = dry.organizations[0].counts
    assert counts["cases"] == 1 and counts["contacts"] == 1 and counts["requests"] == 1
    assert counts["notifications"] == before["Notification"]
    assert counts["conversation_messages"] == 2
    assert counts["audit_entries"] >= 3  # case created and closed, contact, request
    assert session.get(Case, old_id) is not None
    assert "would purge" in dry.lines()[0]

    report = purge_expired(session, NOW)
    session.commit()
    session.expire_all()
    assert report.cases == 1 and report.organizations[0].counts == counts
    assert session.get(Case, old_id) is None
    assert set(_rows(session, old_id).values()) == {0}
    for kept_id in kept_ids:
        assert session.get(Case, kept_id) is not None
        assert all(_rows(session, kept_id).values())
    # The audit log keeps only that a purge happened and how many rows.
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == str(old_id))
        )
        == 0
    )
    assert not session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id.in_(old_messages))
    )
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "purge"))
    assert entry is not None and entry.organization_id == org.id
    assert entry.changes["cases"] == [None, 1] and entry.entity_id is None
    assert entry.changes["notifications"] == [None, before["Notification"]]

    # Running again finds nothing: safe for a daily (or doubled) clock job.
    assert purge_expired(session, NOW).organizations == []
    assert session.get(Organization, org.id) is not None


def test_daily_job_purges_through_the_configured_database(db_url: str) -> None:
    from tracker import db
    from tracker.retention import run_purge_job
    from tracker.types import utcnow

    now = utcnow()
    with db.session_scope() as s:
        org = factories.org(s, now)
        org.retention_days = 1
        actor = factories.actor_for(factories.user(s, org, now))
        case = _full_case(s, actor, now - timedelta(days=5), now - timedelta(days=3))
        case_id = case.id
    run_purge_job()
    with db.session_scope() as s:
        assert s.get(Case, case_id) is None
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "purge")) is not None
