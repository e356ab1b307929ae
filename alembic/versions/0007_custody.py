"""custody: stays from every forum (forum, temporary)

Revision ID: 0007_custody
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_custody"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORUMS = ("ice", "immigration_judge", "bia", "circuit_court", "district_court")


def upgrade() -> None:
    # Every stay recorded before forums existed was asked of ICE (I-246): the default says so.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
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
            )
        )
        batch.add_column(
            sa.Column("temporary", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("temporary")
        batch.drop_column("forum")
