"""two-way inbox (conversation_messages, issue 15)

A family's free-text SMS and the replies sent from the app, per case and contact; the text is
encrypted at rest, an outbound message points at the outbox row that carries its delivery.

Revision ID: 0009_conversations
Revises: 0008_on_call
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import EncryptedText, UTCDateTime

revision: str = "0009_conversations"
down_revision: str | Sequence[str] | None = "0008_on_call"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = "direction = 'in' AND read_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column(
            "direction",
            sa.Enum(
                "in",
                "out",
                name="message_direction",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), server_default="sms", nullable=False),
        sa.Column("body", EncryptedText(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversation_messages_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_conversation_messages_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_conversation_messages_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_conversation_messages_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_conversation_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    op.create_index(
        op.f("ix_conversation_messages_contact_id"), "conversation_messages", ["contact_id"]
    )
    op.create_index(
        op.f("ix_conversation_messages_notification_id"),
        "conversation_messages",
        ["notification_id"],
    )
    op.create_index(
        "ix_conversation_messages_case_created", "conversation_messages", ["case_id", "created_at"]
    )
    op.create_index(
        "ix_conversation_messages_org_created",
        "conversation_messages",
        ["organization_id", "created_at"],
    )
    op.create_index(
        "ix_conversation_messages_unread",
        "conversation_messages",
        ["organization_id"],
        postgresql_where=sa.text(UNREAD),
        sqlite_where=sa.text(UNREAD),
    )


def downgrade() -> None:
    op.drop_table("conversation_messages")
