"""Repository for the brand's own accounts."""

from __future__ import annotations

from sqlalchemy import Engine, and_, update

from storage import tables as t
from storage.bulk import insert_ignoring_conflicts


def register_account(db: Engine, platform: str, external_id: str, username: str | None) -> None:
    """Record a brand account so its own posts are never answered."""
    with db.begin() as conn:
        insert_ignoring_conflicts(
            conn,
            t.accounts,
            [{"platform": platform, "external_id": external_id, "username": username}],
            ("platform", "external_id"),
        )
        conn.execute(
            update(t.accounts)
            .where(and_(t.accounts.c.platform == platform, t.accounts.c.external_id == external_id))
            .values(username=username)
        )
