"""Business hours and SLAs: due times, promises and reminders

Revision ID: 0011_sla_promises
Revises: 0010_policy_versions
"""

from __future__ import annotations

revision = "0011_sla_promises"
down_revision = "0010_policy_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
