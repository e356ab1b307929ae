"""on-call shifts (on_call_shifts, issue 15)

A person on call for an organisation, once or weekly in the organisation's zone; escalations
go to everyone on shift, the organisation's on-call number being the fallback.

Revision ID: 0008_on_call
Revises: 0007_custody
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import EncryptedText, UTCDateTime

revision: str = "0008_on_call"
down_revision: str | Sequence[str] | None = "0007_custody"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "on_call_shifts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", EncryptedText(), nullable=True),
        sa.Column("phone", EncryptedText(), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("weekly", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_on_call_shifts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_on_call_shifts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_shifts")),
    )
    op.create_index(
        op.f("ix_on_call_shifts_organization_id"), "on_call_shifts", ["organization_id"]
    )
    op.create_index(op.f("ix_on_call_shifts_user_id"), "on_call_shifts", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_on_call_shifts_user_id"), table_name="on_call_shifts")
    op.drop_index(op.f("ix_on_call_shifts_organization_id"), table_name="on_call_shifts")
    op.drop_table("on_call_shifts")
