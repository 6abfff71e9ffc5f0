"""author history counters: processed messages, troll verdicts, first message, latest troll verdict

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authors") as batch:
        batch.add_column(sa.Column("messages_processed", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("troll_verdicts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("first_message_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_troll_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authors") as batch:
        batch.drop_column("last_troll_at")
        batch.drop_column("first_message_at")
        batch.drop_column("troll_verdicts")
        batch.drop_column("messages_processed")
