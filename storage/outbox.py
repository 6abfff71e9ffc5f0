"""Repository for the outbox: due items, state transitions, and giving up into the review queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from storage import tables as t
from storage.response_metrics import record_response


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An outbox row as the dispatcher sees it."""

    id: int
    idempotency_key: str
    platform: str
    kind: str
    thread_id: int
    message_id: int
    thread_external_id: str
    target_external_id: str
    recipient_external_id: str
    text: str | None
    fallback_text: str | None
    attempts: int
    rule_id: str
    policy_version: str
    private_link: str | None = None
    source_created_at: datetime | None = None


_COLUMNS = (
    "id",
    "idempotency_key",
    "platform",
    "kind",
    "thread_id",
    "message_id",
    "thread_external_id",
    "target_external_id",
    "recipient_external_id",
    "text",
    "fallback_text",
    "attempts",
    "rule_id",
    "policy_version",
    "private_link",
    "source_created_at",
)


def _entries(conn: Connection, where: Any, limit: int) -> list[OutboxEntry]:
    o = t.outbox
    query = select(*(o.c[name] for name in _COLUMNS)).where(where).order_by(o.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [OutboxEntry(**dict(row._mapping)) for row in conn.execute(query)]


def due_entries(conn: Connection, now: datetime, limit: int, skip_platforms: set[str]) -> list[OutboxEntry]:
    """Return pending items whose next attempt is due, oldest first, excluding paused platforms."""
    o = t.outbox
    where = and_(o.c.status == "pending", o.c.next_attempt_at <= now)
    if skip_platforms:
        where = and_(where, o.c.platform.not_in(sorted(skip_platforms)))
    return _entries(conn, where, limit)


def interrupted_entries(
    conn: Connection, limit: int = 1000, marked_before: datetime | None = None
) -> list[OutboxEntry]:
    """Return items left in "sending" by a crash: they may or may not have been delivered.

    With `marked_before`, only items marked sending before then (a send in flight in a live
    process is younger than its request timeout).
    """
    o = t.outbox
    where: Any = o.c.status == "sending"
    if marked_before is not None:
        where = and_(where, o.c.next_attempt_at <= marked_before)
    return _entries(conn, where, limit)


def claim_interrupted(conn: Connection, entry_id: int, marked_before: datetime | None, now: datetime) -> bool:
    """Take an interrupted item for recovery (it looks freshly marked to others); False if taken or done."""
    o = t.outbox
    where: Any = and_(o.c.id == entry_id, o.c.status == "sending")
    if marked_before is not None:
        where = and_(where, o.c.next_attempt_at <= marked_before)
    result = conn.execute(update(o).where(where).values(next_attempt_at=now))
    return result.rowcount == 1


def mark_sending(conn: Connection, entry_id: int, now: datetime, text_hash: str | None = None) -> bool:
    """Move an item from pending to sending (noting its text's hash, if given); False if another worker took it first."""
    o = t.outbox
    values: dict[str, Any] = {"status": "sending", "attempts": o.c.attempts + 1, "next_attempt_at": now}
    if text_hash is not None:
        values["text_hash"] = text_hash
    result = conn.execute(update(o).where(and_(o.c.id == entry_id, o.c.status == "pending")).values(**values))
    return result.rowcount == 1


def mark_sent(conn: Connection, entry_id: int, platform_ref: str, kind_used: str, now: datetime) -> None:
    """Record the platform's confirmation of a delivery (and, for a reply, its conversation's response time)."""
    conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == entry_id)
        .values(status="sent", platform_ref=platform_ref, kind_used=kind_used, sent_at=now, last_error=None)
    )
    record_response(conn, entry_id, now)


def mark_unconfirmed(conn: Connection, entry_id: int, now: datetime, error: str) -> None:
    """Keep a failed send in "sending": it may have been delivered, so it is looked for before any resend.

    Like an item a crash left in "sending", recovery (this process's, or another's once the item
    is stale) settles it with the bot's `find_sent`.
    """
    o = t.outbox
    conn.execute(
        update(o)
        .where(and_(o.c.id == entry_id, o.c.status == "sending"))
        .values(next_attempt_at=now, last_error=error[:2000])
    )


def still_sending(conn: Connection, entry_id: int) -> bool:
    """Whether an item is still in "sending" (not settled by a recovery meanwhile)."""
    status = conn.execute(select(t.outbox.c.status).where(t.outbox.c.id == entry_id)).scalar_one_or_none()
    return status == "sending"


def reschedule(conn: Connection, entry_id: int, at: datetime, error: str, count_attempt: bool = True) -> None:
    """Put an item back to pending for a later attempt (a rate limit does not count as an attempt)."""
    o = t.outbox
    values: dict[str, Any] = {"status": "pending", "next_attempt_at": at, "last_error": error[:2000]}
    if not count_attempt:
        values["attempts"] = o.c.attempts - 1
    conn.execute(update(o).where(o.c.id == entry_id).values(**values))


def mark_failed(conn: Connection, entry: OutboxEntry, error: str, now: datetime, priority: int = 85) -> None:
    """Give up on an item and make sure a person sees the thread, with the error."""
    conn.execute(
        update(t.outbox).where(t.outbox.c.id == entry.id).values(status="failed", last_error=error[:2000])
    )
    r = t.review_items
    reason = f"automatic {entry.kind} failed: {error[:300]}"
    open_item = conn.execute(
        select(r.c.id, r.c.priority).where(
            and_(r.c.thread_id == entry.thread_id, r.c.status.in_(("open", "claimed")))
        )
    ).first()
    if open_item is None:
        conn.execute(
            r.insert().values(
                thread_id=entry.thread_id,
                message_id=entry.message_id,
                platform=entry.platform,
                priority=priority,
                reason=reason,
                status="open",
                message_count=1,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        conn.execute(
            update(r)
            .where(r.c.id == open_item.id)
            .values(priority=max(open_item.priority, priority), reason=reason, updated_at=now)
        )


def audit(
    conn: Connection,
    now: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    **detail: Any,
) -> None:
    """Append an entry to the audit log."""
    conn.execute(
        t.audit_log.insert().values(
            at=now,
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=detail,
        )
    )
