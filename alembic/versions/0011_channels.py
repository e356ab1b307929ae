"""channels per contact: SMS, WhatsApp, voice (issue 13)

A contact's preferred ``channel`` and the ``consented_channels`` the family agreed to (existing
rows: sms, and ["sms"] exactly when ``sms_consent``), when it last wrote to us (WhatsApp's
24-hour window); each outbox row's channel, WhatsApp template and parameters.

Revision ID: 0011_channels
Revises: 0010_whereabouts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import EncryptedText, UTCDateTime

revision: str = "0011_channels"
down_revision: str | Sequence[str] | None = "0010_whereabouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no SQLite batch re-create, whose table copy would cascade deletes).
    op.add_column(
        "contacts",
        sa.Column("channel", sa.String(length=16), server_default="sms", nullable=False),
    )
    op.add_column(
        "contacts",
        sa.Column("consented_channels", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column("contacts", sa.Column("last_inbound_at", UTCDateTime(), nullable=True))
    contacts = sa.table(
        "contacts", sa.column("sms_consent", sa.Boolean()), sa.column("consented_channels", sa.JSON())
    )
    op.execute(
        contacts.update()
        .where(contacts.c.sms_consent.is_(True))
        .values(consented_channels=["sms"])
    )
    op.add_column(
        "notifications",
        sa.Column("channel", sa.String(length=16), server_default="sms", nullable=False),
    )
    op.add_column("notifications", sa.Column("content_sid", sa.String(length=64), nullable=True))
    op.add_column("notifications", sa.Column("content_variables", EncryptedText(), nullable=True))
    op.add_column("notifications", sa.Column("params", EncryptedText(), nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "params")
    op.drop_column("notifications", "content_variables")
    op.drop_column("notifications", "content_sid")
    op.drop_column("notifications", "channel")
    op.drop_column("contacts", "last_inbound_at")
    op.drop_column("contacts", "consented_channels")
    op.drop_column("contacts", "channel")
