"""Telegram team chat: announced review items (a small outbox of their own) and button presses

Revision ID: 0008_team_chat
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0008_team_chat"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "team_chat_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("message_ref", sa.String(length=64), nullable=True),
        sa.Column("last_state", sa.String(length=255), nullable=True),
        sa.Column("shown_status", sa.String(length=16), nullable=True),
        sa.Column("state_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], name="fk_team_chat_posts_item_id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "chat_id", name="uq_team_chat_posts_item_chat"),
    )
    op.create_index(
        "ix_team_chat_posts_status_due", "team_chat_posts", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "team_chat_presses",
        sa.Column("callback_query_id", sa.String(length=64), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=True),
        sa.Column("message_ref", sa.String(length=64), nullable=True),
        sa.Column("data", sa.String(length=64), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("answer", sa.String(length=255), nullable=True),
        sa.Column("answer_status", sa.String(length=16), nullable=True),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("callback_query_id"),
    )
    op.create_index(
        "ix_team_chat_presses_status", "team_chat_presses", ["status", "answer_status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_team_chat_presses_status", table_name="team_chat_presses")
    op.drop_table("team_chat_presses")
    op.drop_index("ix_team_chat_posts_status_due", table_name="team_chat_posts")
    op.drop_table("team_chat_posts")
