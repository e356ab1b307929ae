"""The importer's family_channel and family_consented_channels columns (issue 13, item 1)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
from tracker import importer
from tracker.models import Case, Contact


def test_family_channel_columns(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    session.commit()
    good = (
        "given_name,family_phone,family_sms_consent,family_channel,family_consented_channels\n"
        "Ana,+12025550142,yes,,\n"
        "Luis,+12025550143,,whatsapp,whatsapp;sms\n"
        "Rose,+12025550144,,voice,voice\n"
    )
    report = importer.import_cases(session, actor, org, good.encode(), NOW)
    assert report.ok, [str(e) for e in report.errors]
    session.commit()
    by_name = {c.case.given_name: c for c in session.scalars(select(Contact).join(Case))}
    assert (by_name["Ana"].channel, by_name["Ana"].consented_channels) == ("sms", ["sms"])
    assert by_name["Luis"].channel == "whatsapp" and by_name["Luis"].sms_consent
    assert by_name["Luis"].consented_channels == ["whatsapp", "sms"]
    assert by_name["Rose"].channel == "voice" and not by_name["Rose"].sms_consent

    bad = (
        "given_name,family_phone,family_channel,family_consented_channels\n"
        "Ana,+12025550152,telegram,\n"
        "Luis,+12025550153,,sms;fax\n"
        "Rose,+12025550154,voice,sms\n"
    )
    report = importer.import_cases(session, actor, org, bad.encode(), NOW)
    messages = [str(e) for e in report.errors]
    assert any(m.startswith("row 2, column family_channel:") for m in messages), messages
    assert any(m.startswith("row 3, column family_consented_channels:") for m in messages)
    assert any(m.startswith("row 4, column family_channel:") for m in messages)
    assert report.imported == 0
