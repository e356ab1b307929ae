"""seed the ICE ERO field offices (reference data: names, codes, time zones only)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.reference import field_offices

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stable ids so that every database names the same office by the same id.
NAMESPACE = uuid.UUID("6f1c2b0e-3d4a-4e55-9a7b-1c2d3e4f5a6b")

table = sa.table(
    "field_offices",
    sa.column("id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("name", sa.String()),
    sa.column("time_zone", sa.String()),
)


def upgrade() -> None:
    op.bulk_insert(
        table,
        [
            {"id": uuid.uuid5(NAMESPACE, row["code"]), **row}
            for row in field_offices()
        ],
    )


def downgrade() -> None:
    op.execute(table.delete().where(table.c.code.in_([r["code"] for r in field_offices()])))
