"""Policy replays: stored reports of re-deciding history under a candidate policy

Revision ID: 0009_policy_replays
Revises: 0008_team_chat
"""

from __future__ import annotations

revision = "0009_policy_replays"
down_revision = "0008_team_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
