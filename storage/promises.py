"""Promised reply times: settle them when a person answers or the deadline passes, and list them.

A promise (table ``promises``, written by the processing stage with the send that makes it) is
``pending`` until one of:

- a person replies to its conversation, moves it to a private channel or resolves its review
  item (`storage.queue_actions` calls `keep_promises`): ``kept`` if that happened by
  `promised_at`, else ``broken``; `settled_by` names the person;
- `promised_at` passes first (`break_overdue_promises`, run by the service every minute):
  ``broken``, `settled_by` ``deadline``.

Readers that cannot wait for the sweep use `effective_status`: a pending promise whose time has
passed counts as broken. Broken promises are reported by `tactful promises --broken`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, literal, select, update

from storage import tables as t
from storage.bulk import chunks

PENDING = "pending"
KEPT = "kept"
BROKEN = "broken"
DEADLINE_ACTOR = "deadline"
_WAITING = ("open", "claimed")


def effective_status(now: datetime) -> ColumnElement[str]:
    """SQL for a promise's status as of `now`: a pending promise past its time is ``broken``."""
    p = t.promises
    return case(
        (and_(p.c.status == PENDING, p.c.promised_at < now), literal(BROKEN)),
        else_=p.c.status,
    )


def keep_promises(conn: Connection, thread_id: int, actor: str, now: datetime) -> int:
    """Settle the pending promises of a conversation a person just answered; return how many."""
    p = t.promises
    result = conn.execute(
        update(p)
        .where(p.c.thread_id == thread_id, p.c.status == PENDING)
        .values(
            status=case((p.c.promised_at >= now, literal(KEPT)), else_=literal(BROKEN)),
            settled_at=now,
            settled_by=actor,
        )
    )
    return int(result.rowcount or 0)


def break_overdue_promises(conn: Connection, now: datetime) -> int:
    """Mark every pending promise whose time has passed ``broken``; return how many."""
    p = t.promises
    result = conn.execute(
        update(p)
        .where(p.c.status == PENDING, p.c.promised_at < now)
        .values(status=BROKEN, settled_at=p.c.promised_at, settled_by=DEADLINE_ACTOR)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class PromiseRow:
    """A promise as people see it: when, to whom, and how it went (status as of now)."""

    id: int
    status: str
    promised_at: datetime
    made_at: datetime
    settled_at: datetime | None
    settled_by: str | None
    platform: str
    channel: str
    thread_id: int
    message_id: int
    author: str | None
    text: str
    item_id: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (times in ISO 8601 UTC)."""
        data: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        return data


def list_promises(
    conn: Connection, now: datetime, *, status: str | None = None, limit: int = 200
) -> list[PromiseRow]:
    """Return promises newest deadline first, optionally only those with an effective `status`."""
    p, m, a, r = t.promises, t.messages, t.authors, t.review_items
    state = effective_status(now)
    latest_item = (
        select(r.c.id)
        .where(r.c.thread_id == p.c.thread_id)
        .order_by(r.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(
            p.c.id,
            state.label("status"),
            p.c.promised_at,
            p.c.made_at,
            p.c.settled_at,
            p.c.settled_by,
            p.c.platform,
            p.c.channel,
            p.c.thread_id,
            p.c.message_id,
            a.c.username.label("author"),
            m.c.text,
            latest_item.label("item_id"),
        )
        .join(m, m.c.id == p.c.message_id)
        .join(a, a.c.id == m.c.author_id)
        .order_by(p.c.promised_at.desc(), p.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(state == status)
    return [PromiseRow(**row._mapping) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class ItemPromise:
    """What the queue shows about a waiting item's promises: the next pending time, or that one broke."""

    status: str  # "pending" or "broken" (as of now)
    promised_at: datetime


def item_promises(conn: Connection, item_ids: Sequence[int], now: datetime) -> dict[int, ItemPromise]:
    """For review items, the earliest pending or broken promise of each item's conversation.

    A broken promise is shown before a pending one; promises kept are not shown.
    """
    p, r = t.promises, t.review_items
    shown: dict[int, ItemPromise] = {}
    state = effective_status(now)
    for part in chunks(sorted(set(item_ids))):
        rows = conn.execute(
            select(r.c.id, state.label("status"), p.c.promised_at)
            .join(r, r.c.thread_id == p.c.thread_id)
            .where(r.c.id.in_(part), p.c.status.in_((PENDING, BROKEN)))
            .order_by(p.c.promised_at)
        ).all()
        for item_id, status, promised_at in rows:
            current = shown.get(item_id)
            if current is None or (status == BROKEN and current.status != BROKEN):
                shown[item_id] = ItemPromise(status, promised_at)
    return shown


def orphan_promises_due(conn: Connection, before: datetime, limit: int = 50) -> list[tuple[int, datetime]]:
    """Pending promises due before `before` whose conversation has no waiting review item: (id, time)."""
    p, r = t.promises, t.review_items
    waiting = select(r.c.id).where(r.c.thread_id == p.c.thread_id, r.c.status.in_(_WAITING)).exists()
    rows = conn.execute(
        select(p.c.id, p.c.promised_at)
        .where(p.c.status == PENDING, p.c.promised_at <= before, ~waiting)
        .order_by(p.c.promised_at)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def promise_ids_settled(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Which of these promises are no longer pending."""
    p = t.promises
    return set(conn.execute(select(p.c.id).where(p.c.id.in_(list(ids)), p.c.status != PENDING)).scalars())
