"""Repository for the review queue as people see it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, desc, select

from storage import tables as t


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One review item with the message that last raised it."""

    id: int
    status: str
    priority: int
    reason: str
    platform: str
    thread_external_id: str
    message_external_id: str
    message_count: int
    author: str | None
    text: str
    category: str | None
    explanation: str | None
    created_at: datetime
    updated_at: datetime
    assignee: str | None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (ISO timestamps)."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


def list_queue(
    conn: Connection, statuses: tuple[str, ...] = ("open", "claimed"), limit: int = 200
) -> list[QueueEntry]:
    """Return review items by priority (highest first), then oldest first."""
    r, m, a, th, v = t.review_items, t.messages, t.authors, t.threads, t.verdicts
    query = (
        select(
            r.c.id,
            r.c.status,
            r.c.priority,
            r.c.reason,
            r.c.platform,
            th.c.external_id.label("thread_external_id"),
            m.c.external_id.label("message_external_id"),
            r.c.message_count,
            a.c.username.label("author"),
            m.c.text,
            v.c.category,
            v.c.explanation,
            r.c.created_at,
            r.c.updated_at,
            r.c.assignee,
        )
        .join(m, m.c.id == r.c.message_id)
        .join(th, th.c.id == r.c.thread_id)
        .join(a, a.c.id == m.c.author_id)
        .outerjoin(v, v.c.message_id == m.c.id)
        .where(r.c.status.in_(statuses))
        .order_by(desc(r.c.priority), r.c.created_at, r.c.id)
        .limit(limit)
    )
    return [QueueEntry(**row._mapping) for row in conn.execute(query)]
