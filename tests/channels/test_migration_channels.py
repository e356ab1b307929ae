"""0011_channels: existing contacts get channel sms and consented_channels from sms_consent."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from tests import factories
from tests.test_migrations import _migrate
from tests.world import NOW
from tracker import db, validators
from tracker.db import make_engine
from tracker.models import Contact
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service


def test_existing_contacts_are_backfilled(db_url: str) -> None:
    with db.session_scope() as s:
        org = factories.org(s, NOW)
        actor = factories.actor_for(factories.user(s, org, NOW))
        case = factories.case(s, actor, NOW)
        for phone, consent in (("+12025550142", True), ("+12025550143", False)):
            contact_service.add_contact(
                s, actor, case, ContactCreate(role="family", phone=phone, sms_consent=consent), NOW
            )
    db.reset()
    try:
        _migrate(db_url, "0010_whereabouts")
        engine = make_engine(db_url)
        with engine.begin() as conn:
            # Under 0010 (no channel columns), the consents swap: 0011 must read them as they
            # stand when it runs, not what the contacts had before.
            conn.execute(
                text("UPDATE contacts SET sms_consent = (phone_hash = :h)"),
                {"h": validators.phone_hash("+12025550143")},
            )
            names = {c["name"] for c in inspect(conn).get_columns("contacts")}
            assert "channel" not in names and "consented_channels" not in names
        engine.dispose()
        _migrate(db_url, "head")
        db.reset()
        with db.session_scope() as s:
            got = {
                c.phone: (c.channel, c.consented_channels, c.sms_consent, c.last_inbound_at)
                for c in s.scalars(select(Contact))
            }
        assert got == {
            "+12025550142": ("sms", [], False, None),
            "+12025550143": ("sms", ["sms"], True, None),
        }
    finally:
        db.reset()
        _migrate(db_url, "head")
