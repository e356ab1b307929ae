"""custody: stays from every forum (forum, temporary); facility kinds (staging)

Revision ID: 0007_custody
Revises: 0006_inbound_routing
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import EncryptedText, UTCDateTime

revision: str = "0007_custody"
down_revision: str | Sequence[str] | None = "0006_inbound_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = ("transferred", "located", "released", "removed", "whereabouts_unknown")
FACILITY_KINDS = ("detention", "staging", "hospital", "other")
FORUMS = ("ice", "immigration_judge", "bia", "circuit_court", "district_court")


def upgrade() -> None:
    # Every stay recorded before forums existed was asked of ICE (I-246): the default says so.
    # Plain ALTER TABLE, never a batch re-create: on SQLite a re-create drops the old table,
    # and with foreign keys on that cascades into every row that points at it.
    op.add_column(
        "requests",
        sa.Column(
            "forum",
            sa.Enum(
                *FORUMS,
                name="stay_forum",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="ice",
            nullable=False,
        ),
    )
    op.add_column(
        "requests",
        sa.Column("temporary", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # Every facility entered so far was a detention centre.
    op.add_column(
        "facilities",
        sa.Column(
            "kind",
            sa.Enum(
                *FACILITY_KINDS,
                name="facility_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="detention",
            nullable=False,
        ),
    )
    op.create_index(
        "ix_facilities_staging",
        "facilities",
        ["id"],
        postgresql_where=sa.text("kind = 'staging'"),
        sqlite_where=sa.text("kind = 'staging'"),
    )
    op.add_column("cases", sa.Column("facility_since", UTCDateTime(), nullable=True))
    op.create_table(
        "custody_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *EVENT_KINDS,
                name="custody_event_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("from_facility_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("notes", EncryptedText(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_custody_events_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_custody_events_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["from_facility_id"],
            ["facilities.id"],
            name=op.f("fk_custody_events_from_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_custody_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
    )
    op.create_index("ix_custody_events_case_at", "custody_events", ["case_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_custody_events_case_at", table_name="custody_events")
    op.drop_table("custody_events")
    op.drop_column("cases", "facility_since")
    op.drop_index("ix_facilities_staging", table_name="facilities")
    op.drop_column("facilities", "kind")
    op.drop_column("requests", "temporary")
    op.drop_column("requests", "forum")
