"""index review items by thread and status, for the processing stage's look-up of waiting items

Revision ID: 0013_review_items_thread_status
Revises: 0012_response_metrics
"""

from __future__ import annotations

from alembic import op

revision = "0013_review_items_thread_status"
down_revision = "0012_response_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_review_items_thread_status", "review_items", ["thread_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_review_items_thread_status", table_name="review_items")
