"""A small world for security tests: two organisations, a user of every role, and in each
organisation one case with every kind of record a route can name (contact, filed, decided
and denied requests, an alert, a notification).

Users and tokens are made once (argon2 hashing is deliberately slow); ``Resources`` can be
made afresh for each write, so that one principal's write never changes what the next sees.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from tests import factories
from tests.world import NOW, PASSWORD, facility, field_office
from tracker import db
from tracker.models import Alert, Notification, Organization, User
from tracker.schemas import CaseCreate, ContactCreate, DeterminationIn, RequestCreate, ShiftCreate
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import oncall as oncall_service
from tracker.services import requests as request_service
from tracker.services.orgs import create_token
from tracker.vocab import ContactRole, RequestKind, RequestStatus, Role

ANONYMOUS = "anonymous"
OTHER_ORG = "other_org"
# Everyone the matrix asks about: the anonymous, each role of org A, an admin of org B.
PRINCIPALS: tuple[str, ...] = (ANONYMOUS, *(r.value for r in Role), OTHER_ORG)


@dataclass
class Resources:
    """Ids of one organisation's records, by the kind a route's ``{id}`` names."""

    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> uuid.UUID:
        return self.ids[kind]


@dataclass
class Principal:
    name: str
    user: User | None = None
    token: str | None = None
    org: Organization | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def role(self) -> Role | None:
        return self.user.role if self.user else None


@dataclass
class World:
    org_a: Organization
    org_b: Organization
    principals: dict[str, Principal]
    facility_id: uuid.UUID
    field_office_id: uuid.UUID

    def actor(self, org: Organization) -> Actor:
        return Actor(label="security-test", organization_id=org.id, role=Role.admin)

    def resources(self, org: Organization | None = None, tag: str = "") -> Resources:
        """A case of ``org`` (default A) with every kind of record, made through the services."""
        org = org or self.org_a
        actor = self.actor(org)
        attorney = next(
            p.user
            for p in self.principals.values()
            if p.user is not None and p.user.organization_id == org.id and p.role is Role.attorney
        ) if org.id == self.org_a.id else None  # fmt: skip
        with db.session_scope() as session:
            case = case_service.create_case(
                session,
                actor,
                CaseCreate(
                    given_name=f"Matrix{tag}",
                    family_name="Example",
                    a_number="A-200-000-001",
                    facility_id=self.facility_id,
                    removal_scheduled_at=NOW + timedelta(hours=10),
                    attorney_id=attorney.id if attorney else None,
                ),
                NOW,
            )
            counsel = contact_service.add_contact(
                session,
                actor,
                case,
                ContactCreate(role=ContactRole.counsel, phone="+12025550111", language="en"),
                NOW,
            )
            family = contact_service.add_contact(
                session,
                actor,
                case,
                ContactCreate(
                    role=ContactRole.family, phone="+12025550112", language="es", sms_consent=True
                ),
                NOW,
            )
            filed = request_service.create_request(
                session,
                actor,
                case,
                RequestCreate(
                    kind=RequestKind.release,
                    filed_at=NOW - timedelta(days=2),
                    status=RequestStatus.filed,
                ),
                NOW,
            )
            decided = request_service.create_request(
                session,
                actor,
                case,
                RequestCreate(
                    kind=RequestKind.prosecutorial_discretion,
                    filed_at=NOW - timedelta(days=3),
                    status=RequestStatus.filed,
                ),
                NOW,
            )
            request_service.record_determination(
                session,
                actor,
                decided,
                DeterminationIn(outcome="denied", decided_at=NOW - timedelta(hours=5)),
                NOW,
            )
            shift = oncall_service.create_shift(
                session,
                actor,
                ShiftCreate(
                    name="Matrix Volunteer",
                    phone="+12025550113",
                    starts_at=NOW,
                    ends_at=NOW + timedelta(hours=8),
                ),
                NOW,
            )
            session.flush()
            alert = session.scalar(select(Alert).where(Alert.case_id == case.id).limit(1))
            notification = session.scalar(
                select(Notification).where(Notification.case_id == case.id).limit(1)
            )
            assert alert is not None, "a removal in 10 h raises an alert at intake"
            assert notification is not None, "the alert queues an SMS to counsel"
            return Resources(
                {
                    "case": case.id,
                    "contact": family.id,
                    "counsel_contact": counsel.id,
                    "request": filed.id,
                    "filed_request": filed.id,
                    "decided_request": decided.id,
                    "denied_request": decided.id,
                    "alert": alert.id,
                    "notification": notification.id,
                    "on_call_shift": shift.id,
                    "facility": self.facility_id,
                    "field_office": self.field_office_id,
                }
            )


def build_world() -> World:
    with db.session_scope() as session:
        org_a = factories.org(session, NOW, "Security Hotline A")
        org_b = factories.org(session, NOW, "Security Hotline B")
        principals: dict[str, Principal] = {ANONYMOUS: Principal(ANONYMOUS)}
        system = Actor.system("test")
        for role in Role:
            user = factories.user(session, org_a, NOW, role=role, phone=None)
            principals[role.value] = Principal(
                role.value, user, create_token(session, system, user, NOW), org_a
            )
        other = factories.user(session, org_b, NOW, role=Role.admin)
        principals[OTHER_ORG] = Principal(
            OTHER_ORG, other, create_token(session, system, other, NOW), org_b
        )
        office = field_office(session, "NOL")
        made = facility(
            session, "Security Test Facility (fictional)", office=office, created_at=NOW
        )
        return World(org_a, org_b, principals, made.id, office.id)


_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page carries a CSRF token field"
    return found.group(1)


def sign_in(client: TestClient, principal: Principal) -> str:
    """Sign ``client`` in through the login form; returns the session's CSRF token."""
    assert principal.user is not None
    form = client.get("/login")
    assert form.status_code == 200, form.text
    token = csrf_of(form.text)
    answer = client.post(
        "/login",
        data={"email": principal.user.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    # The token may be rotated at sign-in (session fixation defence): read it afresh.
    page = client.get("/cases/new")
    return csrf_of(page.text) if "csrf_token" in page.text else token
