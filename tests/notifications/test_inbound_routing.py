"""Inbound SMS belong to exactly one organisation, and each provider message id acts once.

Two organisations share a family's (or a counsel's) phone: a reply from it lands in one of
them only — the one whose own sender it was sent to, else the one that texted the phone last
— and a retried or replayed delivery of the same ``MessageSid`` changes nothing. Through the
real app, signatures computed with Twilio's ``RequestValidator``.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notifications import outbox
from tests.notifications import helpers
from tests.notifications.helpers import AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    Contact,
    InboundMessage,
    Notification,
    Organization,
    TimelineEvent,
)
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service
from tracker.services import inbound as inbound_service
from tracker.settings import get_settings
from tracker.web.app import create_app

BASE = "http://testserver"
SHARED_NUMBER = "+12025550100"
B_NUMBER = "+12025550177"
B_SERVICE = "MG" + "b" * 32
_sids = itertools.count(1)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(get_settings(), twilio_auth_token=AUTH_TOKEN, base_url=BASE)
    app = create_app(settings)
    app.state.clock = lambda: NOON + timedelta(minutes=5)
    with TestClient(app, base_url=BASE) as c:
        yield c


def inbound(
    client: TestClient, sender: str, body: str, sid: str | None = None, **extra: str
) -> str:
    form = {
        "From": sender,
        "To": SHARED_NUMBER,
        "Body": body,
        "MessageSid": sid or f"SM{next(_sids):032x}",
        **extra,
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE + "/webhooks/twilio/sms", form)
    r = client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return r.text


@dataclasses.dataclass
class Two:
    a: helpers.World
    b: helpers.World
    phone: str


def two_orgs(session: Session, *, b_given_name: str = "Berta") -> Two:
    """Org A and org B each have a case with the same family phone; B added it last."""
    a = helpers.world(session, NOON - timedelta(days=2))
    b = helpers.world(session, NOON - timedelta(days=1))
    b.case.given_name = b_given_name
    contact_service.add_contact(
        session,
        b.actor,
        b.case,
        ContactCreate(role="family", phone=a.family.phone, language="es", sms_consent=True),
        NOON - timedelta(days=1),
    )
    session.flush()
    return Two(a, b, a.family.phone)


def texted(
    session: Session,
    org_id: uuid.UUID,
    phone: str,
    at: datetime,
    *,
    case_id: uuid.UUID | None = None,
    alert_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    kind: str = "released",
) -> uuid.UUID:
    """An SMS from ``org_id`` that reached ``phone`` at ``at``."""
    ident = outbox.enqueue(
        session,
        organization_id=org_id,
        to_phone=phone,
        kind=kind,
        dedupe_key=f"test:{uuid.uuid4()}",
        params={"first_name": "Ana", "rung": 24},
        case_id=case_id,
        alert_id=alert_id,
        contact_id=contact_id,
        user_id=user_id,
        urgent=alert_id is not None,
        now=at,
    )
    assert ident is not None
    outbox.mark_sent(session, ident, f"SM{uuid.uuid4().hex}", "log", at)
    return ident


def received_on(case_id: uuid.UUID) -> list[str]:
    with db.get_sessionmaker()() as s:
        return list(
            s.scalars(
                select(TimelineEvent.summary).where(
                    TimelineEvent.case_id == case_id, TimelineEvent.kind == "sms_received"
                )
            )
        )


def fresh_alert(ident: uuid.UUID) -> Alert:
    with db.get_sessionmaker()() as s:
        alert = s.get(Alert, ident)
        assert alert is not None
        s.expunge_all()
    return alert


def test_free_text_from_a_shared_family_phone_lands_in_one_organisation_only(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    texted(session, two.a.org.id, two.phone, NOON - timedelta(hours=1), case_id=two.a.case.id)
    session.commit()
    reply = inbound(client, two.phone, "¿Dónde está mi esposo?")
    assert "una persona le responder" in reply
    assert received_on(two.a.case.id) == ["SMS from family contact: ¿Dónde está mi esposo?"]
    assert received_on(two.b.case.id) == []
    with db.get_sessionmaker()() as s:
        record = s.scalars(select(InboundMessage)).one()
    assert record.organization_id == two.a.org.id and record.action == "forwarded"


def test_without_any_text_sent_the_newest_contact_decides_and_still_only_one(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    session.commit()
    inbound(client, two.phone, "hola")
    assert received_on(two.b.case.id) == ["SMS from family contact: hola"]
    assert received_on(two.a.case.id) == []


def test_status_lists_only_the_routed_organisations_cases(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    texted(session, two.b.org.id, two.phone, NOON - timedelta(hours=2), case_id=two.b.case.id)
    texted(session, two.a.org.id, two.phone, NOON - timedelta(hours=1), case_id=two.a.case.id)
    session.commit()
    reply = inbound(client, two.phone, "ESTADO")
    assert "Ana" in reply and "Berta" not in reply
    assert two.a.org.name in reply and two.b.org.name not in reply


def test_ok_acknowledges_only_the_alert_texted_to_that_phone_in_that_organisation(
    client: TestClient, session: Session
) -> None:
    a = helpers.world(session, NOON - timedelta(days=2))
    b = helpers.world(session, NOON - timedelta(days=1))
    counsel_phone = helpers.next_phone()
    a_counsel, _ = (
        contact_service.add_contact(
            session,
            w.actor,
            w.case,
            ContactCreate(role="counsel", phone=counsel_phone, language="en"),
            NOON - timedelta(days=1),
        )
        for w in (a, b)
    )
    a_alert = helpers.open_alert(session, a, NOON - timedelta(hours=3))
    # Org B's alert is open on a case this phone is counsel on, and newer, but was never
    # texted to it: an "OK" from the phone is not about it.
    b_alert = helpers.open_alert(session, b, NOON - timedelta(hours=1))
    texted(
        session,
        a.org.id,
        counsel_phone,
        NOON - timedelta(hours=2),
        case_id=a.case.id,
        alert_id=a_alert.id,
        contact_id=a_counsel.id,
        kind="removal_imminent",
    )
    session.commit()
    reply = inbound(client, counsel_phone, "OK")
    assert "acknowledged the removal imminent alert" in reply
    assert fresh_alert(a_alert.id).acknowledged_via == "sms"
    assert fresh_alert(b_alert.id).acknowledged_at is None
    again = inbound(client, counsel_phone, "OK")
    assert "no open alert" in again
    assert fresh_alert(b_alert.id).acknowledged_at is None


def test_an_attorneys_ok_does_not_reach_another_organisations_alert(
    client: TestClient, session: Session
) -> None:
    a = helpers.world(session, NOON - timedelta(days=2))
    b = helpers.world(session, NOON - timedelta(days=1))
    phone = a.attorney.phone or ""
    # The same person is counsel on org B's case, whose alert was texted to that phone.
    contact_service.add_contact(
        session,
        b.actor,
        b.case,
        ContactCreate(role="counsel", phone=phone, language="en"),
        NOON - timedelta(days=1),
    )
    b_alert = helpers.open_alert(session, b, NOON - timedelta(hours=3))
    texted(session, b.org.id, phone, NOON - timedelta(hours=3), alert_id=b_alert.id)
    a_alert = helpers.open_alert(session, a, NOON - timedelta(hours=1))
    texted(
        session,
        a.org.id,
        phone,
        NOON - timedelta(hours=1),
        alert_id=a_alert.id,
        user_id=a.attorney.id,
    )
    session.commit()
    inbound(client, phone, "ACK")
    inbound(client, phone, "ACK")
    acked_a = fresh_alert(a_alert.id)
    assert acked_a.acknowledged_by_id == a.attorney.id
    # Routed to org A (it texted last): org B's alert stays for org B to handle.
    assert fresh_alert(b_alert.id).acknowledged_at is None


def test_the_same_message_sid_twice_answers_200_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    texted(session, two.a.org.id, two.phone, NOON - timedelta(hours=1), case_id=two.a.case.id)
    session.commit()
    sid = "SM" + "f" * 32
    first = inbound(client, two.phone, "hola", sid=sid)
    assert "<Message>" in first
    again = inbound(client, two.phone, "hola", sid=sid)
    assert "<Message>" not in again and "<Response" in again
    assert received_on(two.a.case.id) == ["SMS from family contact: hola"]
    with db.get_sessionmaker()() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_two_concurrent_deliveries_of_one_sid_act_once(session: Session) -> None:
    two = two_orgs(session)
    texted(session, two.a.org.id, two.phone, NOON - timedelta(hours=1), case_id=two.a.case.id)
    session.commit()
    sid, now = "SM" + "c" * 32, NOON + timedelta(minutes=5)
    first = db.get_sessionmaker()()
    # The first delivery is handled but not yet committed when the retry arrives.
    assert inbound_service.receive(first, sid=sid, from_raw=two.phone, body="hola", now=now)
    second: list[inbound_service.Reply | None] = []

    def retry() -> None:
        with db.session_scope() as s:
            second.append(
                inbound_service.receive(s, sid=sid, from_raw=two.phone, body="hola", now=now)
            )

    thread = threading.Thread(target=retry)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the retry must wait for the first delivery's transaction"
    first.commit()
    first.close()
    thread.join(20)
    assert second == [None]
    assert received_on(two.a.case.id) == ["SMS from family contact: hola"]


def test_a_replayed_ok_acknowledges_once(client: TestClient, session: Session) -> None:
    w = helpers.world(session)
    phone = w.attorney.phone or ""
    first = helpers.open_alert(session, w, NOON - timedelta(hours=2))
    second = helpers.open_alert(session, w, NOON - timedelta(hours=1))
    for alert, hours in ((first, 2), (second, 1)):
        texted(
            session,
            w.org.id,
            phone,
            NOON - timedelta(hours=hours),
            alert_id=alert.id,
            user_id=w.attorney.id,
        )
    session.commit()

    def audited_acks() -> int:
        with db.get_sessionmaker()() as s:
            return len(
                [
                    e
                    for e in s.scalars(select(AuditEntry).where(AuditEntry.entity == "alert"))
                    if "acknowledged_at" in e.changes
                ]
            )

    before = audited_acks()
    sid = "SM" + "a" * 32
    inbound(client, phone, "OK", sid=sid)
    inbound(client, phone, "OK", sid=sid)
    assert fresh_alert(second.id).acknowledged_at is not None
    assert fresh_alert(first.id).acknowledged_at is None
    assert audited_acks() == before + 1


def test_a_message_to_an_organisations_own_number_belongs_to_it(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    two.b.org.sms_from_number = B_NUMBER
    # Org A texted the phone last, on the shared sender: a reply to B's number is still B's.
    texted(session, two.a.org.id, two.phone, NOON - timedelta(hours=1), case_id=two.a.case.id)
    session.commit()
    inbound(client, two.phone, "para B", To=B_NUMBER)
    assert received_on(two.b.case.id) == ["SMS from family contact: para B"]
    assert received_on(two.a.case.id) == []
    inbound(client, two.phone, "para A", To=SHARED_NUMBER)
    assert received_on(two.a.case.id) == ["SMS from family contact: para A"]
    assert received_on(two.b.case.id) == ["SMS from family contact: para B"]


def test_a_message_to_an_organisations_messaging_service_belongs_to_it(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    two.a.org.messaging_service_sid = "MG" + "a" * 32
    session.commit()
    reply = inbound(client, two.phone, "estado", MessagingServiceSid="MG" + "a" * 32)
    assert "Ana" in reply and "Berta" not in reply


def test_a_number_unknown_to_the_organisations_sender_learns_nothing(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    stranger = helpers.world(session)
    stranger.org.sms_from_number = B_NUMBER
    session.commit()
    # Known in orgs A and B, but texting org "stranger"'s own number: nothing about A or B.
    reply = inbound(client, two.phone, "ESTADO", To=B_NUMBER)
    assert "Ana" not in reply and "Berta" not in reply and "Amparo sends" in reply


def _opted_out(contact_id: uuid.UUID) -> bool:
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None
        return contact.opted_out_at is not None


def _family_of(session: Session, case: Case, phone: str) -> Contact:
    return next(c for c in case.contacts if c.phone == phone)


def test_stop_on_the_shared_sender_stops_every_organisation_sending_from_it(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    b_contact = _family_of(session, two.b.case, two.phone)
    session.commit()
    inbound(client, two.phone, "STOP")
    assert _opted_out(two.a.family.id) and _opted_out(b_contact.id)


def test_stop_on_an_organisations_own_sender_stops_that_organisation_only(
    client: TestClient, session: Session
) -> None:
    two = two_orgs(session)
    two.b.org.sms_from_number = B_NUMBER
    b_contact = _family_of(session, two.b.case, two.phone)
    session.commit()
    inbound(client, two.phone, "STOP", To=B_NUMBER)
    assert _opted_out(b_contact.id) and not _opted_out(two.a.family.id)
    inbound(client, two.phone, "START", To=B_NUMBER)
    assert not _opted_out(b_contact.id)


def test_outbound_sms_go_from_the_organisations_own_sender(session: Session) -> None:
    shared = helpers.world(session)
    own = helpers.world(session)
    own.org.messaging_service_sid = B_SERVICE
    numbered = helpers.world(session)
    numbered.org.sms_from_number = B_NUMBER
    for w in (shared, own, numbered):
        texted_row = outbox.enqueue(
            session,
            organization_id=w.org.id,
            to_phone=w.family.phone,
            kind="released",
            dedupe_key=f"test:{uuid.uuid4()}",
            params={"first_name": "Ana"},
            case_id=w.case.id,
            now=NOON,
        )
        assert texted_row is not None
    session.commit()
    stand_in = StandIn()
    helpers.dispatcher(helpers.twilio_transport(stand_in)).run(once=True)
    by_to = {f["To"]: f for f in stand_in.forms}
    assert by_to[shared.family.phone]["MessagingServiceSid"] == helpers.MESSAGING_SERVICE_SID
    assert by_to[own.family.phone]["MessagingServiceSid"] == B_SERVICE
    assert by_to[numbered.family.phone]["From"] == B_NUMBER
    assert "MessagingServiceSid" not in by_to[numbered.family.phone]
    with db.get_sessionmaker()() as s:
        senders = dict(s.execute(select(Notification.to_phone_hash, Notification.sender)).all())
        orgs = s.scalars(select(Organization)).all()
    assert len(orgs) >= 3
    assert set(senders.values()) >= {helpers.MESSAGING_SERVICE_SID, B_SERVICE, B_NUMBER}
    assert None not in senders
