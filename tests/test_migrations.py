"""Alembic builds every database; the migrated schema is exactly the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.orm import Session

from alembic import command
from tracker import crypto, db, migrate, validators
from tracker.db import get_engine, make_engine
from tracker.migrate import alembic_config
from tracker.models import Base, FieldOffice, FieldOfficeLiaison, Organization

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_migrated_schema_matches_models(db_url: str) -> None:
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_field_offices_seeded(session: Session) -> None:
    assert session.scalar(select(func.count()).select_from(FieldOffice)) == 25
    chicago = session.scalar(select(FieldOffice).where(FieldOffice.code == "CHI"))
    assert chicago is not None and chicago.time_zone == "America/Chicago"
    # Liaison contacts are for each organisation to enter: none are invented.
    assert session.scalar(select(func.count()).select_from(FieldOfficeLiaison)) == 0


def test_sweep_indexes_exist(db_url: str) -> None:
    inspector = inspect(get_engine())
    names = {
        ix["name"]
        for t in ("cases", "requests", "alerts", "notifications")
        for ix in inspector.get_indexes(t)
    }
    assert {
        "ix_cases_removal_open",
        "ix_requests_documentation_pending",
        "ix_requests_filed_pending",
        "ix_requests_stay_expiry",
        "ix_alerts_escalation_pending",
        "ix_notifications_due",
    } <= names


def _migrate(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        engine.dispose()


def _old_org(url: str, name: str) -> uuid.UUID:
    org_id = uuid.uuid4()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Organization.__table__).values(
                    id=org_id,
                    name=name,
                    alert_ladder_hours=[72],
                    unanswered_days={},
                    default_unanswered_days=14,
                    escalation_delay_minutes=60,
                    retention_days=365,
                    time_zone="UTC",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    finally:
        engine.dispose()
    return org_id


def test_shared_liaisons_are_copied_into_every_organisation(db_url: str) -> None:
    """0005 moves the shared liaison columns into one copy per organisation (and back)."""
    db.reset()
    _migrate(db_url, "0005_org_liaisons-1")
    try:
        engine = make_engine(db_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE field_offices SET liaison_name = 'Shared Liaison', "
                    "liaison_phone = '+12025550150' WHERE code = 'NOL'"
                )
            )
        engine.dispose()
        # Organisations as the schema of that revision has them (the model has grown since).
        orgs = {_old_org(db_url, name) for name in ("Org One", "Org Two")}
        _migrate(db_url, "head")
        db.reset()
        with db.session_scope() as s:
            rows = list(s.scalars(select(FieldOfficeLiaison)))
            nol = s.scalar(select(FieldOffice.id).where(FieldOffice.code == "NOL"))
            assert {r.organization_id for r in rows} == orgs
            assert {(r.field_office_id, r.name, r.phone, r.email) for r in rows} == {
                (nol, "Shared Liaison", "+12025550150", None)
            }
        _migrate(db_url, "0005_org_liaisons-1")
        engine = make_engine(db_url)
        with engine.connect() as conn:
            back = conn.execute(
                text("SELECT liaison_name, liaison_phone FROM field_offices WHERE code = 'NOL'")
            ).one()
        engine.dispose()
        assert tuple(back) == ("Shared Liaison", "+12025550150")
    finally:
        db.reset()
        _migrate(db_url, "head")


def test_0006_backfills_the_phone_index_of_existing_notifications(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0002")
    engine = make_engine(url)
    org_id, ids = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    organizations = Organization.__table__
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(organizations).values(
                    id=org_id,
                    name="Old org",
                    alert_ladder_hours=[72],
                    unanswered_days={},
                    default_unanswered_days=14,
                    escalation_delay_minutes=60,
                    retention_days=365,
                    time_zone="UTC",
                    created_at=now,
                    updated_at=now,
                )
            )
            for ident, token in zip(
                ids, (crypto.encrypt("+12025550142"), "not-a-token"), strict=True
            ):
                conn.execute(
                    text(
                        "INSERT INTO notifications (id, organization_id, to_phone, language,"
                        " kind, body, segments, encoding, urgent, dedupe_key, status, attempts,"
                        " next_attempt_at, created_at, updated_at) VALUES (:id, :org, :phone,"
                        " 'en', 'released', 'x', 1, 'GSM-7', 0, :key, 'sent', 1, :now, :now,"
                        " :now)"
                    ),
                    {
                        "id": ident.hex,
                        "org": org_id.hex,
                        "phone": token,
                        "key": ident.hex,
                        "now": now.isoformat(),
                    },
                )
        migrate.upgrade(url)
        with engine.connect() as conn:
            hashes = dict(conn.execute(text("SELECT id, to_phone_hash FROM notifications")).all())
        # And back: SQLite drops the columns in place, cascading nothing.
        with engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM notifications")).scalar()
    finally:
        engine.dispose()
    # Every row kept; the readable one is indexed, the one no key opens keeps NULL.
    assert hashes == {ids[0].hex: validators.phone_hash("+12025550142"), ids[1].hex: None}
    assert left == 2
