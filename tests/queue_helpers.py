"""Helpers for review queue tests: stored messages and review items as the processing step writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from storage import tables as t
from storage.ingest import store_fetch
from tactful.domain import IncomingMessage


def store(db: Engine, now: datetime, *messages: IncomingMessage) -> dict[str, int]:
    """Store messages and return their database ids by external id."""
    store_fetch(db, "test", list(messages), None, [], now)
    m = t.messages
    with db.connect() as conn:
        rows = conn.execute(select(m.c.external_id, m.c.id)).all()
    return {row.external_id: row.id for row in rows}


def open_item(db: Engine, message_id: int, now: datetime, priority: int = 50) -> int:
    """Queue a message's thread for review, as processing does, and return the item id."""
    with db.begin() as conn:
        thread_id, platform = conn.execute(
            select(t.messages.c.thread_id, t.messages.c.platform).where(t.messages.c.id == message_id)
        ).one()
        result = conn.execute(
            t.review_items.insert().values(
                thread_id=thread_id,
                message_id=message_id,
                platform=platform,
                priority=priority,
                reason="needs a person",
                status="open",
                message_count=1,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


def audit_rows(db: Engine, action_prefix: str = "") -> list[dict[str, Any]]:
    """Return audit entries (oldest first) whose action starts with `action_prefix`."""
    a = t.audit_log
    with db.connect() as conn:
        rows = conn.execute(
            select(a.c.actor, a.c.action, a.c.subject_type, a.c.subject_id, a.c.detail, a.c.at)
            .where(a.c.action.startswith(action_prefix))
            .order_by(a.c.id)
        ).all()
    return [dict(row._mapping) for row in rows]
