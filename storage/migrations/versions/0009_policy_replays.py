"""Policy replays: stored reports of re-deciding history under a candidate policy

Revision ID: 0009_policy_replays
Revises: 0008_team_chat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0009_policy_replays"
down_revision = "0008_team_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policy_replays_created_at", "policy_replays", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_policy_replays_created_at", table_name="policy_replays")
    op.drop_table("policy_replays")
