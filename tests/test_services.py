"""The write paths on a real database: normalisation, scoping, audit, encryption at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
from tracker import validators
from tracker.models import AuditEntry, Case, Facility, Notification, TimelineEvent
from tracker.schemas import ContactCreate, DeterminationIn, DocumentationIn, RequestCreate
from tracker.services import NotFound, ServiceError
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.vocab import RequestKind, RequestStatus


def test_case_created_with_normalised_values_audit_and_timeline(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    case = factories.case(
        session,
        actor,
        NOW,
        given_name="Ana",
        family_name="Pérez",
        a_number="A-12-345-678",
        country_of_birth="gt",
        removal_scheduled_at="2026-11-24T10:00:00-06:00",
    )
    session.commit()
    session.expire_all()
    loaded = session.get(Case, case.id)
    assert loaded is not None
    assert loaded.a_number == "012345678"
    assert loaded.country_of_birth == "GT"
    assert loaded.removal_scheduled_at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_id == str(case.id)))
    assert entry is not None and entry.action == "create" and entry.actor_id == actor.user_id
    # Names and A-numbers never enter the audit log in clear.
    assert entry.changes["a_number"] == [None, "[redacted]"]
    assert "012345678" not in str(entry.changes) and "Pérez" not in str(entry.changes)
    assert session.scalar(select(TimelineEvent.kind).where(TimelineEvent.case_id == case.id)) == (
        "case_opened"
    )


def test_case_of_another_organisation_is_not_found(session: Session) -> None:
    a, b = factories.org(session, NOW), factories.org(session, NOW)
    actor_a = factories.actor_for(factories.user(session, a, NOW))
    actor_b = factories.actor_for(factories.user(session, b, NOW))
    case = factories.case(session, actor_a, NOW)
    assert case_service.get_case(session, actor_a, case.id).id == case.id
    with pytest.raises(NotFound):
        case_service.get_case(session, actor_b, case.id)


def test_search_by_a_number_uses_blind_index(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    case = factories.case(session, actor, NOW, a_number="123456789")
    assert [c.id for c in case_service.find_by_a_number(session, actor, "A-123-456-789")] == [
        case.id
    ]
    assert case.a_number_hash == validators.a_number_hash("123456789")


def test_request_lifecycle_and_family_notification_in_same_transaction(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    case = factories.case(session, actor, NOW, given_name="Rosa", family_name="Lima")
    contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(role="family", phone="(202) 555-0142", language="es", sms_consent=True),
        NOW,
    )
    req = request_service.create_request(
        session,
        actor,
        case,
        RequestCreate(kind=RequestKind.release, filed_at=NOW - timedelta(days=2)),
        NOW,
    )
    assert req.status is RequestStatus.filed
    request_service.record_determination(
        session, actor, req, DeterminationIn(outcome="denied", decided_at=NOW), NOW
    )
    with pytest.raises(ServiceError) as err:
        request_service.record_determination(
            session, actor, req, DeterminationIn(outcome="granted", decided_at=NOW), NOW
        )
    assert "outcome" in err.value.fields
    request_service.record_documentation(
        session,
        actor,
        req,
        DocumentationIn(
            received_at=NOW + timedelta(hours=1), language="es", advised_right_to_appeal=True
        ),
        NOW + timedelta(hours=2),
    )
    session.commit()
    kinds = sorted(
        session.scalars(select(Notification.kind).where(Notification.case_id == case.id))
    )
    assert kinds == ["decision_denied", "documentation_received", "introduction", "request_filed"]
    bodies = [n.body for n in session.scalars(select(Notification))]
    assert all("Lima" not in b for b in bodies)
    appeal = request_service.appeal(
        session, actor, req, request_service.AppealIn(filed_at=NOW), NOW
    )
    assert appeal.kind is RequestKind.appeal and appeal.appeal_of_id == req.id


def test_future_decision_is_refused(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    case = factories.case(session, actor, NOW)
    req = request_service.create_request(session, actor, case, RequestCreate(kind="release"), NOW)
    with pytest.raises(ServiceError) as err:
        request_service.record_determination(
            session,
            actor,
            req,
            DeterminationIn(outcome="granted", decided_at=NOW + timedelta(days=400)),
            NOW,
        )
    assert err.value.fields == {"decided_at": "decided_at is in the future"}


def test_no_clear_text_identifiers_at_rest(db_url: str, session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW, phone="+12025550177"))
    case = factories.case(
        session, actor, NOW, given_name="Zacarías", family_name="Quintanilla", a_number="987654321"
    )
    contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(role="family", phone="+12025550188", sms_consent=True),
        NOW,
    )
    session.commit()
    secrets_ = ["987654321", "2025550177", "2025550188", "Quintanilla", "Zacar"]
    if db_url.startswith("sqlite"):
        session.close()
        from tracker import db

        db.reset()
        raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        for secret in secrets_:
            assert secret.encode() not in raw
    else:
        dump = session.execute(
            text("SELECT string_agg(t::text, '|') FROM (SELECT * FROM cases) t")
        ).scalar_one()
        dump += session.execute(
            text("SELECT string_agg(t::text, '|') FROM (SELECT * FROM contacts) t")
        ).scalar_one()
        dump += session.execute(
            text("SELECT string_agg(t::text, '|') FROM (SELECT * FROM users) t")
        ).scalar_one()
        for secret in secrets_:
            assert secret not in dump


def test_intake_hands_back_the_case_as_written_without_more_statements(session: Session) -> None:
    """The Case ``create_case`` returns is attached as loaded from the row it wrote: reading it
    (columns, organisation, its empty requests and contacts) sends nothing, changing it is an
    UPDATE, and a fresh load of the row holds the same values."""
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    facility = Facility(name="Fictional Processing Center", time_zone="America/Chicago")
    session.add(facility)
    session.flush()
    case = factories.case(
        session, actor, NOW, given_name="Ana", a_number="A-12-345-678", facility_id=facility.id
    )
    assert inspect(case).persistent and not session.new and not session.dirty
    columns = Case.__table__.columns.keys()
    sent: list[str] = []

    def on_execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        written = {name: getattr(case, name) for name in columns}
        assert (case.organization.id, case.requests, case.contacts) == (org.id, [], [])
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert sent == []
    assert case.facility is not None and case.facility.id == facility.id  # loaded when read
    assert written["facility_since"] == NOW and written["location_unknown_since"] is None
    assert written["a_number_hash"] == validators.a_number_hash("012345678")
    case.country_of_birth = "GT"
    session.commit()
    session.expunge_all()
    loaded = session.get(Case, case.id)
    assert loaded is not None
    # updated_at: set by the UPDATE (the column's onupdate).
    reloaded = {name: getattr(loaded, name) for name in columns if name != "updated_at"}
    assert reloaded == {k: v for k, v in written.items() if k != "updated_at"} | {
        "country_of_birth": "GT"
    }
