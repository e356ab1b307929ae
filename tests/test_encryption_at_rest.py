"""Encryption at rest: nothing identifying in clear in the raw database, key rotation that
keeps old rows readable, and search that survives rotation."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests import factories
from tests.world import NOW
from tracker import crypto, db, keys, validators
from tracker.crypto import DecryptionError
from tracker.models import Case, CaseNameToken, Contact, Organization, User
from tracker.schemas import ContactCreate, RequestCreate
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.settings import get_settings

SECRETS = [
    "987654321",
    "2025550177",
    "2025550188",
    "2025550166",
    "Quintanilla",
    "Zacar",
    "Xiomelda",
]


def _populate(session: Session) -> tuple[Actor, Case]:
    org = factories.org(session, NOW)
    org.oncall_phone = "+12025550166"
    attorney = factories.user(session, org, NOW, phone="+12025550177", name="Xiomelda Brightwater")
    actor = factories.actor_for(attorney)
    case = factories.case(
        session,
        actor,
        NOW,
        given_name="Zacarías",
        family_name="Quintanilla",
        a_number="987654321",
        removal_scheduled_at=NOW + timedelta(hours=5),
        attorney_id=attorney.id,
    )
    contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(
            role="family", name="Zacarías Quintanilla", phone="+12025550188", sms_consent=True
        ),
        NOW,
    )
    # A filed request: the family is texted (outbox), the timeline grows, alerts are raised.
    request_service.create_request(
        session, actor, case, RequestCreate(kind="release", filed_at=NOW), NOW
    )
    session.commit()
    return actor, case


def _pg_dump(db_url: str) -> str:
    url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    result = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_no_identifier_in_clear_anywhere_in_the_database(db_url: str, session: Session) -> None:
    _populate(session)
    # Every table with identifying data got rows (else the test would prove nothing).
    for table in (
        "cases",
        "contacts",
        "notifications",
        "timeline_events",
        "users",
        "organizations",
    ):
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0, table  # noqa: S608
    session.close()
    if db_url.startswith("sqlite"):
        db.reset()  # checkpoint and close: the file and its WAL are all there is
        path = Path(make_url(db_url).database or "")
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        for secret in SECRETS:
            assert secret.encode() not in raw, secret
    else:
        dump = _pg_dump(db_url)
        assert "COPY public.cases" in dump and "COPY public.notifications" in dump
        for secret in SECRETS:
            assert secret not in dump, secret


def _find_by_name(session: Session, actor: Actor, word: str) -> list[uuid.UUID]:
    tokens = crypto.name_tokens(word)
    return list(
        session.scalars(
            select(Case.id)
            .join(CaseNameToken, CaseNameToken.case_id == Case.id)
            .where(Case.organization_id == actor.organization_id, CaseNameToken.token.in_(tokens))
        )
    )


def _search_works(session: Session, actor: Actor, case_id: uuid.UUID) -> None:
    assert [c.id for c in case_service.find_by_a_number(session, actor, "A-987-654-321")] == [
        case_id
    ]
    assert _find_by_name(session, actor, "quintanilla") == [case_id]
    assert _find_by_name(session, actor, "ZACARIAS") == [case_id]
    phone_hash = validators.phone_hash("+12025550188")
    assert (
        session.scalar(select(Contact.case_id).where(Contact.phone_hash == phone_hash)) == case_id
    )
    user_hash = validators.phone_hash("+12025550177")
    assert session.scalar(select(User.id).where(User.phone_hash == user_hash)) is not None


def _set_keys(monkeypatch: pytest.MonkeyPatch, *keys_: str) -> None:
    monkeypatch.setenv("DATA_KEYS", ",".join(keys_))
    get_settings.cache_clear()


def test_rotation_re_encrypts_under_the_new_key_and_search_keeps_working(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = get_settings().data_keys[0]
    actor, case = _populate(session)
    case_id = case.id
    _search_works(session, actor, case_id)
    session.close()

    new_key = Fernet.generate_key().decode()
    _set_keys(monkeypatch, new_key, old_key)
    with db.get_sessionmaker()() as s:
        # Old rows still decrypt with the old key behind the new one.
        loaded = s.get(Case, case_id)
        assert loaded is not None and loaded.family_name == "Quintanilla"
    report = keys.rotate_all(db.get_sessionmaker())
    assert report.rotated["cases"] >= 3 and report.rotated["contacts"] >= 2
    assert report.rotated["notifications"] >= 2 and report.rotated["timeline_events"] >= 1
    assert report.rotated["users"] >= 2 and report.rotated["organizations"] == 1
    with db.get_sessionmaker()() as s:
        raw = s.execute(text("SELECT family_name FROM cases")).scalar_one()
        assert Fernet(new_key.encode()).decrypt(raw.encode()) == b"Quintanilla"
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(raw.encode())
    # A second run finds everything current.
    again = keys.rotate_all(db.get_sessionmaker())
    assert sum(again.rotated.values()) == 0 and again.already_current > 0

    # Drop the old key. The blind-index key defaulted to it, so the indexes are rebuilt.
    _set_keys(monkeypatch, new_key)
    with db.get_sessionmaker()() as s:
        loaded = s.get(Case, case_id)
        assert loaded is not None and loaded.a_number == "987654321"
        org = s.get(Organization, loaded.organization_id)
        assert org is not None and org.oncall_phone == "+12025550166"
        assert case_service.find_by_a_number(s, actor, "987654321") == []  # stale indexes
    rebuilt = keys.rotate_all(db.get_sessionmaker())
    assert rebuilt.reindexed >= 4
    with db.get_sessionmaker()() as s:
        _search_works(s, actor, case_id)


def test_rows_under_a_dropped_key_do_not_decrypt(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard the rotation procedure exists for: dropping a key before rotating loses data."""
    _, case = _populate(session)
    case_id = case.id
    session.close()
    _set_keys(monkeypatch, Fernet.generate_key().decode())
    with db.get_sessionmaker()() as s, pytest.raises(DecryptionError):
        s.get(Case, case_id)
