"""Business hours and SLAs: due times, promises and reminders

Revision ID: 0011_sla_promises
Revises: 0010_policy_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0011_sla_promises"
down_revision = "0010_policy_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_key", sa.String(length=160), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("promised_at", UTCDateTime(), nullable=False),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_promises_message_id"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], name="fk_promises_thread_id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_key", name="uq_promises_outbox_key"),
    )
    op.create_index("ix_promises_status_promised_at", "promises", ["status", "promised_at"], unique=False)
    op.create_index("ix_promises_thread_status", "promises", ["thread_id", "status"], unique=False)
    op.create_table(
        "sla_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("deadline", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("message_ref", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "subject", "subject_id", "kind", "chat_id", name="uq_sla_alerts_subject_kind_chat"
        ),
    )
    op.create_index("ix_sla_alerts_status_next", "sla_alerts", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sla_alerts_status_next", table_name="sla_alerts")
    op.drop_table("sla_alerts")
    op.drop_index("ix_promises_thread_status", table_name="promises")
    op.drop_index("ix_promises_status_promised_at", table_name="promises")
    op.drop_table("promises")
