"""Counsel listed after an alert was raised still receives it, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
from tracker.models import Alert, Notification
from tracker.schemas import CaseUpdate, ContactCreate
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.vocab import Role


def _alert_sms_to(session: Session, phone: str) -> list[Notification]:
    return [
        n
        for n in session.scalars(select(Notification).where(Notification.alert_id.is_not(None)))
        if n.to_phone == phone
    ]


def test_counsel_added_after_the_alert_gets_it_once(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW, role=Role.hotline))
    case = factories.case(session, actor, NOW, removal_scheduled_at=NOW + timedelta(hours=20))
    alert = session.scalar(select(Alert).where(Alert.case_id == case.id))
    assert alert is not None and alert.rung == 24
    contact = contact_service.add_contact(
        session, actor, case, ContactCreate(role="counsel", phone="+12025550111"), NOW
    )
    sms = _alert_sms_to(session, "+12025550111")
    assert [(n.alert_id, n.urgent) for n in sms] == [(alert.id, True)]
    # Editing the contact again must not queue the same alert a second time.
    contact_service.update_contact(
        session, actor, contact, contact_service.ContactUpdate(name="Counsel"), NOW
    )
    assert len(_alert_sms_to(session, "+12025550111")) == 1


def test_newly_assigned_attorney_gets_open_alerts(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW, role=Role.admin))
    attorney = factories.user(session, org, NOW, role=Role.attorney, phone="+12025550122")
    case = factories.case(session, actor, NOW, removal_scheduled_at=NOW + timedelta(hours=5))
    assert _alert_sms_to(session, "+12025550122") == []
    case_service.update_case(session, actor, case, CaseUpdate(attorney_id=attorney.id), NOW)
    sms = _alert_sms_to(session, "+12025550122")
    assert len(sms) == 1 and sms[0].kind == "removal_imminent"
