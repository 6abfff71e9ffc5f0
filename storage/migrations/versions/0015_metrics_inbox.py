"""metrics inbox: processed customer messages waiting to be folded into response conversations

Revision ID: 0015_metrics_inbox
Revises: 0014_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_metrics_inbox"
down_revision = "0014_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics_inbox",
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )


def downgrade() -> None:
    op.drop_table("metrics_inbox")
