"""Response-time metrics and badge alerts

Revision ID: 0012_response_metrics
Revises: 0011_sla_promises
"""

from __future__ import annotations

revision = "0012_response_metrics"
down_revision = "0011_sla_promises"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
