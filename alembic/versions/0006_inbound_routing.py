"""inbound routing: per-organisation senders, notifications.to_phone_hash, inbound_messages

Every inbound SMS belongs to one organisation: the one whose own sender it was sent to, else
the one that last texted that phone (``notifications.to_phone_hash``). ``inbound_messages``
remembers each provider message id so that a retried or replayed delivery changes nothing.

The backfill of ``to_phone_hash`` reads the key ring through ``tracker.crypto`` (the process
settings, as the app does); a row that does not decrypt with it keeps NULL and such a phone
routes by its contacts instead (the organisation with the newest contact or user for it).

Revision ID: 0006_inbound_routing
Revises: 0005_org_liaisons
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.types

revision: str = "0006_inbound_routing"
down_revision: str | Sequence[str] | None = "0005_org_liaisons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    # Plain ALTER TABLE, no batch: on SQLite a batch would re-create ``organizations``, and
    # with foreign keys on, dropping the old table cascades to every case and notification.
    op.add_column("organizations", sa.Column("sms_from_number", sa.String(32), nullable=True))
    op.add_column("organizations", sa.Column("messaging_service_sid", sa.String(64), nullable=True))
    op.create_index(
        op.f("ix_organizations_sms_from_number"),
        "organizations",
        ["sms_from_number"],
        unique=True,
    )
    op.create_index(
        op.f("ix_organizations_messaging_service_sid"),
        "organizations",
        ["messaging_service_sid"],
        unique=True,
    )
    op.add_column("notifications", sa.Column("to_phone_hash", sa.String(64), nullable=True))
    op.create_index(
        "ix_notifications_to_phone_created",
        "notifications",
        ["to_phone_hash", "created_at"],
        unique=False,
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", tracker.types.UTCDateTime(), nullable=False),
        sa.Column("from_hash", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_inbound_messages_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_inbound_messages_provider_sid")),
    )
    op.create_index(
        op.f("ix_inbound_messages_organization_id"),
        "inbound_messages",
        ["organization_id"],
        unique=False,
    )
    _backfill_to_phone_hash()


def _backfill_to_phone_hash() -> None:
    from tracker import crypto, validators

    bind = op.get_bind()
    table = sa.table(
        "notifications",
        sa.column("id", sa.Uuid()),
        sa.column("to_phone", sa.Text()),
        sa.column("to_phone_hash", sa.String()),
    )
    last = None
    while True:
        query = sa.select(table.c.id, table.c.to_phone).order_by(table.c.id).limit(BATCH)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            return
        last = rows[-1][0]
        updates = []
        for ident, token in rows:
            try:
                updates.append(
                    {"b_id": ident, "b_hash": validators.phone_hash(crypto.decrypt(token))}
                )
            except (crypto.DecryptionError, ValueError):
                continue  # no key for it here: this row routes by contacts only
        if updates:
            bind.execute(
                table.update()
                .where(table.c.id == sa.bindparam("b_id"))
                .values(to_phone_hash=sa.bindparam("b_hash")),
                updates,
            )


def downgrade() -> None:
    # SQLite ≥ 3.35 drops a column in place (no batch re-create; see ``upgrade``).
    op.drop_index(op.f("ix_inbound_messages_organization_id"), table_name="inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_index("ix_notifications_to_phone_created", table_name="notifications")
    op.drop_column("notifications", "to_phone_hash")
    op.drop_index(op.f("ix_organizations_messaging_service_sid"), table_name="organizations")
    op.drop_index(op.f("ix_organizations_sms_from_number"), table_name="organizations")
    op.drop_column("organizations", "messaging_service_sid")
    op.drop_column("organizations", "sms_from_number")
