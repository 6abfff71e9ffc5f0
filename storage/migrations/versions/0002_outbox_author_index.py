"""index outbox by author and time, for the per-author send caps

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_author_created", "outbox", ["author_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_author_created", table_name="outbox")
