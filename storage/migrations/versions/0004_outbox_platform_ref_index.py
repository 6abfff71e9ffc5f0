"""index outbox by platform reference, so a customer's answer to our message joins its conversation

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_platform_ref", "outbox", ["platform", "platform_ref"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_platform_ref", table_name="outbox")
