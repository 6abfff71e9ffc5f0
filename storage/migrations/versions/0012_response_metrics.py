"""Response-time metrics and badge alerts

Revision ID: 0012_response_metrics
Revises: 0011_sla_promises
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0012_response_metrics"
down_revision = "0011_sla_promises"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_customer_at", UTCDateTime(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("first_human_at", UTCDateTime(), nullable=True),
        sa.Column("first_automated_at", UTCDateTime(), nullable=True),
        sa.Column("last_response_at", UTCDateTime(), nullable=True),
        sa.Column("human_ms", sa.BigInteger(), nullable=True),
        sa.Column("automated_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_response_conversations_account_id"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], name="fk_response_conversations_thread_id"),
        sa.ForeignKeyConstraint(["author_id"], ["authors.id"], name="fk_response_conversations_author_id"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_response_conversations_message_id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_response_conversations_key",
        "response_conversations",
        ["thread_id", "author_id", "started_at"],
        unique=False,
    )
    op.create_index(
        "ix_response_conversations_window",
        "response_conversations",
        ["started_ms", "platform", "channel", "account_id", "human_ms", "automated_ms"],
        unique=False,
    )
    op.create_table(
        "badge_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("badge", sa.String(length=160), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_ref", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "badge", "level", "day", name="uq_badge_alerts_once_a_day"),
    )
    op.create_index("ix_badge_alerts_status", "badge_alerts", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_badge_alerts_status", table_name="badge_alerts")
    op.drop_table("badge_alerts")
    op.drop_index("ix_response_conversations_window", table_name="response_conversations")
    op.drop_index("ix_response_conversations_key", table_name="response_conversations")
    op.drop_table("response_conversations")
