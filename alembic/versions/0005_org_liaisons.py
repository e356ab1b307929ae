"""field-office PD liaisons per organisation (field_office_liaisons)

Field offices stay shared reference data (code, name, zone). The liaison name, phone and
e-mail move to ``field_office_liaisons``, keyed by (organisation, field office), so that no
organisation can change what another organisation's SMS, pages and API show.

Existing values are *copied into every existing organisation*, not dropped. Until now each
organisation's escalation SMS named the shared liaison, so copying keeps every organisation's
messages exactly as they were the moment before the upgrade; dropping would silently turn a
working "escalate to …" into "see the case page" for organisations that had entered (or
relied on) a liaison. Since any admin could have written the shared value, each
organisation's admin should check its copy on the admin page ("Field offices"): from now on
its edits change its own copy only. Organisations created later start without liaisons.

The phone stays plain text, as before: it is the published work line of an ICE official,
not personal data of a detained person or a family.

The downgrade puts back the shared columns, filled from one organisation's copy per office
(the most recently edited), which is the best a single shared value can hold.

Revision ID: 0005_org_liaisons
Revises: 0004_key_canary
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import UTCDateTime

revision: str = "0005_org_liaisons"
down_revision: str | Sequence[str] | None = "0004_key_canary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("name", 200), ("phone", 32), ("email", 320))


def upgrade() -> None:
    op.create_table(
        "field_office_liaisons",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("field_office_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_office_id"],
            ["field_offices.id"],
            name=op.f("fk_field_office_liaisons_field_office_id_field_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_field_office_liaisons_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "field_office_id", name=op.f("pk_field_office_liaisons")
        ),
    )
    # One copy per (organisation, office that had a liaison), stamped with the upgrade time.
    op.execute(
        "INSERT INTO field_office_liaisons "
        "(organization_id, field_office_id, name, phone, email, updated_at) "
        "SELECT o.id, f.id, f.liaison_name, f.liaison_phone, f.liaison_email, "
        "CURRENT_TIMESTAMP "
        "FROM organizations o CROSS JOIN field_offices f "
        "WHERE f.liaison_name IS NOT NULL OR f.liaison_phone IS NOT NULL "
        "OR f.liaison_email IS NOT NULL"
    )
    # Plain ALTER TABLE, not a batch: on SQLite a batch recreates ``field_offices``, and
    # dropping the old table (foreign keys on) would cascade to the rows just copied.
    for column, _ in _COLUMNS:
        op.drop_column("field_offices", f"liaison_{column}")


def downgrade() -> None:
    for column, length in _COLUMNS:
        op.add_column(
            "field_offices", sa.Column(f"liaison_{column}", sa.String(length), nullable=True)
        )
    for column, _ in _COLUMNS:
        op.execute(
            f"UPDATE field_offices SET liaison_{column} = ("
            f"SELECT l.{column} FROM field_office_liaisons l "
            "WHERE l.field_office_id = field_offices.id "
            "ORDER BY l.updated_at DESC LIMIT 1)"
        )
    op.drop_table("field_office_liaisons")
