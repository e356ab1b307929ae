"""Alembic builds every database; the migrated schema is exactly the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.models import Base, FieldOffice


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
    assert (
        session.scalar(
            select(func.count())
            .select_from(FieldOffice)
            .where(FieldOffice.liaison_phone.is_not(None))
        )
        == 0
    )


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
