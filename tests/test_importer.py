"""CSV import on a real database: validation by row and column, all-or-nothing, same writes
as the services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
from tracker import importer
from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    CaseNameToken,
    Contact,
    Facility,
    TimelineEvent,
)
from tracker.schemas import CaseCreate, ContactCreate, FacilityCreate
from tracker.services import ServiceError
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import facilities as facility_service
from tracker.vocab import Role

DATA = Path(__file__).parent / "data"


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_valid_file_is_imported_with_contacts_facility_and_local_times(session: Session) -> None:
    org = factories.org(session, NOW)
    # An admin: the file names a new facility, which only an admin's import may add.
    actor = factories.actor_for(factories.user(session, org, NOW, role=Role.admin))
    report = importer.import_cases(
        session, actor, org, (DATA / "import_valid.csv").read_bytes(), NOW
    )
    session.commit()
    assert report.ok and report.rows == 3 and report.imported == 3
    assert report.contacts == 3 and report.families_without_consent == 1
    assert report.facilities_created == ["Example Processing Center"]
    facility = session.scalar(select(Facility).where(Facility.name == "Example Processing Center"))
    assert facility is not None and facility.time_zone == "America/Chicago"  # HOU's zone
    cases = {c.given_name: c for c in session.scalars(select(Case))}
    ana = cases["Ana María"]
    assert ana.a_number == "111222333" and ana.country_of_birth == "GT"
    assert ana.preferred_language == "es" and ana.facility_id == facility.id
    # "2026-11-24 09:00" without an offset is read in the facility's zone (CST, UTC-6).
    assert ana.removal_scheduled_at == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert cases["Luis"].a_number == "022233344"
    assert cases["Luis"].field_office is not None and cases["Luis"].field_office.code == "DAL"
    # Rose's facility is known from Ana's row; its field office comes with it.
    assert cases["Rose"].facility_id == facility.id
    family = session.scalar(
        select(Contact).where(Contact.case_id == ana.id, Contact.role == "family")
    )
    assert family is not None and family.phone == "+12025550142" and family.sms_consent
    # Ana's removal is within 72 h of NOW: the rules raised the alert in the same transaction.
    assert session.scalar(select(Alert.kind).where(Alert.case_id == ana.id)) == "removal_imminent"
    assert report.alerted == 1
    found = case_service.find_by_a_number(session, actor, "A-111-222-333")
    assert [c.id for c in found] == [ana.id]
    summary = session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
    assert summary is not None and summary.changes["imported"] == [None, 3]


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    session.commit()
    before = _count(session, AuditEntry)
    report = importer.import_cases(
        session, actor, org, (DATA / "import_invalid.csv").read_bytes(), NOW
    )
    messages = [str(e) for e in report.errors]
    assert "row 3, column given_name: required" in messages
    assert any(
        m.startswith("row 4, column a_number: an A-number has 8 or 9 digits") for m in messages
    )
    assert "row 5, column field_office_code: unknown field office code" in messages
    assert any(m.startswith("row 5, column country_of_birth:") for m in messages)
    assert any(m.startswith("row 6, column removal_scheduled_at: not a date") for m in messages)
    assert any(m.startswith("row 6, column family_phone:") for m in messages)
    assert "row 7, column a_number: the same A-number is on row 2" in messages
    assert report.imported == 0 and report.rows == 6 and report.valid == 1
    session.commit()
    assert _count(session, Case) == 0 and _count(session, AuditEntry) == before


def test_skip_invalid_writes_the_valid_rows(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    report = importer.import_cases(
        session, actor, org, (DATA / "import_invalid.csv").read_bytes(), NOW, skip_invalid=True
    )
    session.commit()
    assert report.imported == 1 and report.errors
    assert [c.given_name for c in session.scalars(select(Case))] == ["Valid"]
    # The A-number now exists: importing it again is refused.
    again = importer.import_cases(
        session, actor, org, "given_name,a_number\nAgain,123456780\n", NOW
    )
    assert [str(e) for e in again.errors] == [
        "row 2, column a_number: a case with this A-number exists in your organisation"
    ]


def test_dry_run_validates_and_writes_nothing(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW, role=Role.admin))
    report = importer.import_cases(
        session, actor, org, (DATA / "import_valid.csv").read_bytes(), NOW, dry_run=True
    )
    session.commit()
    assert report.ok and report.valid == 3 and report.imported == 0
    assert _count(session, Case) == 0 and _count(session, Facility) == 0


def test_header_problems_stop_the_import(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    with pytest.raises(importer.ImportFailed) as err:
        importer.import_cases(session, actor, org, "family_name,shoe_size\nX,42\n", NOW)
    assert [str(e) for e in err.value.errors] == [
        "row 1, column shoe_size: unknown column",
        "row 1, column given_name: required column is missing",
    ]
    with pytest.raises(importer.ImportFailed) as err:
        importer.import_cases(session, actor, org, b"given_name\n\xff\xfe\n", NOW)
    assert "not UTF-8" in str(err.value)


def test_batched_writes_match_the_services(session: Session) -> None:
    """The importer's batch path must write what create_case + add_contact write."""
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    importer.import_cases(
        session,
        actor,
        org,
        "given_name,family_name,a_number,country_of_birth,family_phone,family_language\n"
        "Imported,Sample-Name,123456781,MX,2025550144,es\n",
        NOW,
    )
    via_service = case_service.create_case(
        session,
        actor,
        CaseCreate(
            given_name="Imported",
            family_name="Sample-Name",
            a_number="123456782",
            country_of_birth="MX",
        ),
        NOW,
    )
    contact_service.add_contact(
        session,
        actor,
        via_service,
        ContactCreate(role="family", phone="2025550145", language="es"),
        NOW,
    )
    session.commit()
    imported = session.scalar(select(Case).where(Case.id != via_service.id))
    assert imported is not None

    def trail(case: Case) -> tuple[object, ...]:
        contact_ids = [str(c.id) for c in case.contacts]
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_id.in_([str(case.id), *contact_ids]))
            .order_by(AuditEntry.entity)
        )
        audit_rows = [(e.action, e.entity, e.actor_id, sorted(e.changes)) for e in entries]
        events = sorted(
            (e.kind, e.summary)
            for e in session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id))
        )
        tokens = len(
            list(session.scalars(select(CaseNameToken).where(CaseNameToken.case_id == case.id)))
        )
        contacts = [(c.role, c.language, c.sms_consent, bool(c.phone_hash)) for c in case.contacts]
        return audit_rows, events, tokens, contacts, case.custody_status, case.factors

    assert trail(imported) == trail(via_service)


def test_only_an_admins_import_adds_a_facility(session: Session) -> None:
    """Facilities are shared by every organisation: for any other role an unknown facility is
    a row error naming row and column, and nothing is written (a dry run says so too)."""
    org = factories.org(session, NOW)
    users = {r: factories.user(session, org, NOW, role=r) for r in (Role.attorney, Role.hotline)}
    admin = factories.user(session, org, NOW, role=Role.admin)
    session.add(Facility(name="Known Center", time_zone="America/Chicago"))
    session.commit()
    source = (
        "given_name,facility\n"
        "Ana,Known Center\n"
        "Luis,Invented Detention Center\n"
        "Rose,invented detention center\n"
    )
    expected = [
        'row 3, column facility: unknown facility "Invented Detention Center" '
        "(ask an admin to add it)",
        'row 4, column facility: unknown facility "invented detention center" '
        "(ask an admin to add it)",
    ]
    for role, user in users.items():
        actor = factories.actor_for(user)
        for dry_run in (True, False):
            report = importer.import_cases(session, actor, org, source, NOW, dry_run=dry_run)
            assert [str(e) for e in report.errors] == expected, (role, dry_run)
            assert report.imported == 0 and report.valid == 1
        # With skip_invalid the row naming a known facility is written; no facility is added.
        report = importer.import_cases(session, actor, org, source, NOW, skip_invalid=True)
        assert report.imported == 1 and report.facilities_created == []
        assert [f.name for f in session.scalars(select(Facility))] == ["Known Center"]
        session.rollback()
    # An admin's import may still add it (once, whatever the case of its name).
    report = importer.import_cases(session, factories.actor_for(admin), org, source, NOW)
    assert report.ok and report.imported == 3
    assert report.facilities_created == ["Invented Detention Center"]
    assert _count(session, Facility) == 2


def test_the_facility_service_refuses_non_admins(session: Session) -> None:
    org = factories.org(session, NOW)
    data = FacilityCreate(name="Side Door Center", time_zone="America/Chicago")
    for role in (Role.attorney, Role.hotline, Role.coordinator):
        actor = factories.actor_for(factories.user(session, org, NOW, role=role))
        with pytest.raises(ServiceError) as refused:
            facility_service.create_facility(session, actor, data, NOW)
        assert refused.value.code == "forbidden"
    assert _count(session, Facility) == 0
    admin = factories.actor_for(factories.user(session, org, NOW, role=Role.admin))
    assert facility_service.create_facility(session, admin, data, NOW).name == "Side Door Center"
