"""key canary: a known value encrypted with DATA_KEYS, to tell right keys from wrong ones

Revision ID: 0004_key_canary
Revises: 0003_auth_lifecycle
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.types

revision: str = "0004_key_canary"
down_revision: str | Sequence[str] | None = "0003_auth_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The value itself is written by ``amparo migrate`` (tracker.canary), with the keys of the
    # process that runs it, not here: a migration must not depend on DATA_KEYS.
    op.create_table(
        "key_canary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", tracker.types.EncryptedText(), nullable=False),
        sa.Column("created_at", tracker.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_canary")),
    )


def downgrade() -> None:
    op.drop_table("key_canary")
