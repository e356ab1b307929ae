"""Fictional demo data, clearly marked, for trying the tracker (``amparo demo``).

Every person, number and facility here is invented; phone numbers are in the 555-01xx range
reserved for fiction. The scenarios cover each deadline rule relative to ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Case, Facility, FieldOffice, Organization
from tracker.schemas import (
    CaseCreate,
    ContactCreate,
    DeterminationIn,
    RequestCreate,
    UserCreate,
)
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.services.orgs import create_org, create_user
from tracker.vocab import RequestKind, Role

DEMO_ORG = "Demo Rapid Response (FICTIONAL DEMO DATA)"


def load_demo(session: Session, now: datetime) -> list[str]:
    if session.scalar(select(Organization).where(Organization.name == DEMO_ORG)):
        return [f"demo data already loaded ({DEMO_ORG})"]
    system = Actor.system("demo")
    org = create_org(session, system, DEMO_ORG, now)
    org.oncall_phone = "+12025550100"
    actor = Actor(label="demo", organization_id=org.id, role=Role.admin)
    attorney, attorney_pw = create_user(
        session,
        system,
        org,
        UserCreate(
            email="attorney@demo.invalid",
            role=Role.attorney,
            phone="+12025550101",
            name="Demo Attorney",
        ),
        now,
    )
    hotline, hotline_pw = create_user(
        session,
        system,
        org,
        UserCreate(email="hotline@demo.invalid", role=Role.hotline, name="Demo Volunteer"),
        now,
    )
    office = session.scalar(select(FieldOffice).where(FieldOffice.code == "NOL"))
    facility = Facility(
        name="Demo Processing Center (fictional)",
        time_zone="America/Chicago",
        field_office_id=office.id if office else None,
        created_at=now,
    )
    session.add(facility)
    session.flush()

    def case(given: str, family: str, a_number: str, language: str, **extra: object) -> Case:
        created = case_service.create_case(
            session,
            actor,
            CaseCreate(
                given_name=given,
                family_name=family,
                a_number=a_number,
                preferred_language=language,
                facility_id=facility.id,
                attorney_id=attorney.id,
                **extra,
            ),
            now - timedelta(days=20),
        )
        contact_service.add_contact(
            session,
            actor,
            created,
            ContactCreate(role="counsel", name="Demo Counsel", phone="+12025550101"),
            now - timedelta(days=20),
        )
        return created

    # Removal in 20 hours: the 24 h rung is reached.
    c1 = case(
        "María",
        "Ejemplo",
        "A-000-000-001",
        "es",
        country_of_birth="GT",
        removal_scheduled_at=now + timedelta(hours=20),
        factors=["caretaker", "limited_english"],
    )
    contact_service.add_contact(
        session,
        actor,
        c1,
        ContactCreate(
            role="family",
            name="Demo Family",
            phone="+12025550102",
            language="es",
            sms_consent=True,
        ),
        now - timedelta(days=20),
    )
    # A decision recorded 50 hours ago with no documentation: overdue.
    c2 = case("Jean", "Egzanp", "A-000-000-002", "ht", country_of_birth="HT")
    r2 = request_service.create_request(
        session,
        actor,
        c2,
        RequestCreate(
            kind=RequestKind.release,
            filed_at=now - timedelta(days=10),
        ),
        now - timedelta(days=10),
    )
    request_service.record_determination(
        session,
        actor,
        r2,
        DeterminationIn(outcome="denied", decided_at=now - timedelta(hours=50)),
        now - timedelta(hours=50),
    )
    # A PD request filed 15 days ago with no answer: unanswered.
    c3 = case("Ana", "Muestra", "A-000-000-003", "pt", country_of_birth="BR")
    request_service.create_request(
        session,
        actor,
        c3,
        RequestCreate(kind=RequestKind.prosecutorial_discretion, filed_at=now - timedelta(days=15)),
        now - timedelta(days=15),
    )
    # A stay granted that expires in 30 hours.
    c4 = case(
        "Luis",
        "Ficticio",
        "A-000-000-004",
        "es",
        country_of_birth="MX",
        removal_scheduled_at=now + timedelta(days=10),
    )
    r4 = request_service.create_request(
        session,
        actor,
        c4,
        RequestCreate(kind=RequestKind.stay_of_removal, filed_at=now - timedelta(days=5)),
        now - timedelta(days=5),
    )
    request_service.record_determination(
        session,
        actor,
        r4,
        DeterminationIn(
            outcome="granted",
            decided_at=now - timedelta(days=1),
            stay_expires_at=now + timedelta(hours=30),
        ),
        now - timedelta(days=1),
    )
    return [
        f"demo organization: {org.id} {DEMO_ORG}",
        f"attorney: {attorney.email} password (shown once): {attorney_pw}",
        f"hotline:  {hotline.email} password (shown once): {hotline_pw}",
        "cases: 4 fictional cases covering removal, documentation, unanswered and stay expiry",
    ]
