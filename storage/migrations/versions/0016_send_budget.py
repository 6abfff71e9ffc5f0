"""send budget: a cluster-wide send cap (a lock row and the slots taken) and outbox text hashes

Revision ID: 0016_send_budget
Revises: 0015_metrics_inbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0016_send_budget"
down_revision = "0015_metrics_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "send_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("budget", sa.String(length=32), nullable=False),
        sa.Column("reserved_at", UTCDateTime(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_send_slots_budget_reserved", "send_slots", ["budget", "reserved_at"], unique=False)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("text_hash", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_outbox_platform_text_sent", "outbox", ["platform", "text_hash", "sent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_platform_text_sent", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("text_hash")
    op.drop_index("ix_send_slots_budget_reserved", table_name="send_slots")
    op.drop_table("send_slots")
    op.drop_table("send_budget")
