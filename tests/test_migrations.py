"""Alembic builds every database; the migrated schema is exactly the models."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from alembic import command
from tests import factories
from tracker import db
from tracker.db import get_engine, make_engine
from tracker.migrate import alembic_config
from tracker.models import Base, FieldOffice, FieldOfficeLiaison

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
        with db.session_scope() as s:
            orgs = {factories.org(s, NOW, name).id for name in ("Org One", "Org Two")}
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
