"""Policy versions with hash, author and status; shadow (dry-run) decisions

Revision ID: 0010_policy_versions
Revises: 0009_policy_replays

Shadow decisions need no schema change: their outbox rows carry status ``shadow``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0010_policy_versions"
down_revision = "0009_policy_replays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("author", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), server_default="active", nullable=False))
        batch.add_column(sa.Column("errors", sa.Text(), nullable=True))
        batch.add_column(sa.Column("activated_at", UTCDateTime(), nullable=True))
    # Versions recorded before this revision all ran: they were in force when first loaded.
    op.execute("UPDATE policy_versions SET activated_at = loaded_at")


def downgrade() -> None:
    op.execute("DELETE FROM policy_versions WHERE status = 'rejected'")
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("activated_at")
        batch.drop_column("errors")
        batch.drop_column("status")
        batch.drop_column("author")
        batch.drop_column("content_hash")
