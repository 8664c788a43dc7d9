"""Per-user language of the pages and per-site time zone of the timestamps shown (issue 8, items 7-8).

Existing users keep English (``en``) until they choose; existing sites get ``Asia/Shanghai``, the zone of the
trial's sites in China, which an administrator changes with ``oligotrial sites set-time-zone``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), server_default="en", nullable=False))
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(length=64), server_default="Asia/Shanghai", nullable=False)
        )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of ``users`` would delete the rows
    # that reference it (tokens, role assignments) through their ON DELETE CASCADE foreign keys.
    op.drop_column("sites", "time_zone")
    op.drop_column("users", "language")
