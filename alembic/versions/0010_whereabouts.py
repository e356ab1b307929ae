"""whereabouts unknown: organisations.whereabouts_hours, cases.location_unknown_since (issue 14)

Existing cases are not backfilled: a case opened before this revision with no facility would
otherwise alert the moment the upgrade runs, for a whole caseload at once. Their whereabouts
clock starts at their next ``whereabouts_unknown`` custody event.

Revision ID: 0010_whereabouts
Revises: 0009_conversations
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tracker.types import UTCDateTime

revision: str = "0010_whereabouts"
down_revision: str | Sequence[str] | None = "0009_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "closed_at IS NULL AND location_unknown_since IS NOT NULL"


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch re-create (a SQLite re-create cascades deletes).
    op.add_column(
        "organizations",
        sa.Column("whereabouts_hours", sa.Integer(), server_default=sa.text("24"), nullable=False),
    )
    op.add_column("cases", sa.Column("location_unknown_since", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_cases_location_unknown",
        "cases",
        ["location_unknown_since"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_location_unknown", table_name="cases")
    op.drop_column("cases", "location_unknown_since")
    op.drop_column("organizations", "whereabouts_hours")
