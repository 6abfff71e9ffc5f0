"""What people do with review items: label, claim, release, resolve, reopen.

This module is the one place queue actions happen; the command line, the dashboard and the team
chat all call it. Every action checks its inputs before touching the database (ValueError naming
what is allowed), runs in one transaction of its own, locks the item first (a row lock on
PostgreSQL, the write lock on SQLite), refuses an action the item's state does not allow
(`QueueConflict`), and writes an audit row naming the person (`actor`).

Statuses: ``open`` → ``claimed`` (someone took it) → ``resolved``; ``open`` and ``claimed`` are
both waiting, and the processing pipeline adds new messages of the thread to them. A thread has
at most one waiting item, so reopening is refused while a newer one waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, or_, select, update

from storage import tables as t
from storage.labels import check_actor, set_label
from storage.outbox import audit
from tactful.errors import TactfulError
from tactful.labels import LabelTask, TrainingLabel, parse_queue_label

OPEN = "open"
CLAIMED = "claimed"
RESOLVED = "resolved"
WAITING = (OPEN, CLAIMED)
NOTE_MAX = 2000


class QueueActionError(TactfulError):
    """A queue action was refused; the message says why and is fit to show to the person."""


class ReviewItemNotFound(QueueActionError, LookupError):
    """No review item has this id."""


class QueueConflict(QueueActionError):
    """The item's current state does not allow the action (e.g. resolving a resolved item)."""


@dataclass(frozen=True, slots=True)
class ItemState:
    """A review item's state after an action."""

    id: int
    thread_id: int
    message_id: int
    status: str
    assignee: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppliedLabel:
    """One label a person gave: the queue name used, the training label stored, the one it replaced."""

    given_as: str
    message_id: int
    message_ref: str  # platform:external_id, as in training files
    task: LabelTask
    label: str
    previous_label: str | None
    previous_actor: str | None


def check_note(note: str | None) -> str | None:
    """Return the note stripped (None when blank), or raise ValueError if it is too long."""
    if note is None or not note.strip():
        return None
    if len(note.strip()) > NOTE_MAX:
        raise ValueError(f"note is longer than {NOTE_MAX} characters")
    return note.strip()


def parse_labels(names: Sequence[str]) -> list[tuple[str, TrainingLabel]]:
    """Validate queue label names: known, at least one, at most one per task; duplicates collapse."""
    if not names:
        raise ValueError("give at least one label")
    chosen: dict[LabelTask, tuple[str, TrainingLabel]] = {}
    for name in names:
        label = parse_queue_label(name)
        given = name.strip().lower()
        earlier = chosen.get(label.task)
        if earlier is not None and earlier[1] != label:
            raise ValueError(f"{earlier[0]} and {given} are both {label.task} labels; give one")
        chosen[label.task] = (given, label)
    return list(chosen.values())


def label_item(
    engine: Engine,
    item_id: int,
    labels: Sequence[str],
    actor: str,
    now: datetime,
    *,
    message_id: int | None = None,
) -> list[AppliedLabel]:
    """Label the message of a review item (or `message_id`, a message of its conversation).

    `labels` are queue names: ``complaint``/``not_complaint``, ``troll``/``not_troll`` (stored as
    the offensive task's ``offensive``/``not_offensive``), ``negative``/``neutral``/``positive``.
    Each replaces the message's earlier label for the same task; the audit log keeps the history.
    The item may be in any state.
    """
    name = check_actor(actor)
    chosen = parse_labels(labels)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        target = item.message_id if message_id is None else message_id
        ref = _message_ref(conn, item, target)
        applied = []
        for given, label in chosen:
            change = set_label(conn, target, label, name, now, review_item_id=item.id, given_as=given)
            applied.append(
                AppliedLabel(
                    given_as=given,
                    message_id=target,
                    message_ref=ref,
                    task=change.task,
                    label=change.label,
                    previous_label=change.previous_label,
                    previous_actor=change.previous_actor,
                )
            )
    return applied


def claim_item(engine: Engine, item_id: int, actor: str, now: datetime) -> ItemState:
    """Take an open item: it becomes ``claimed`` with `actor` as assignee."""
    name = check_actor(actor)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status == CLAIMED:
            raise QueueConflict(f"review item #{item.id} is already claimed by {item.assignee}")
        if item.status != OPEN:
            raise QueueConflict(f"review item #{item.id} is {item.status}; reopen it first")
        state = _update(conn, item.id, status=CLAIMED, assignee=name)
        audit(conn, now, name, "queue.claim", "review_item", str(item.id))
    return state


def release_item(engine: Engine, item_id: int, actor: str, now: datetime) -> ItemState:
    """Give a claimed item back to the queue (``open``, no assignee); anyone may release it."""
    name = check_actor(actor)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status != CLAIMED:
            raise QueueConflict(f"review item #{item.id} is {item.status}, not claimed")
        state = _update(conn, item.id, status=OPEN, assignee=None)
        audit(conn, now, name, "queue.release", "review_item", str(item.id), previous_assignee=item.assignee)
    return state


def resolve_item(
    engine: Engine, item_id: int, actor: str, now: datetime, note: str | None = None
) -> ItemState:
    """Mark a waiting (open or claimed) item resolved by `actor` now, with an optional note."""
    name = check_actor(actor)
    text = check_note(note)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status == RESOLVED:
            raise QueueConflict(
                f"review item #{item.id} is already resolved (by {item.resolved_by}"
                f" at {item.resolved_at.isoformat() if item.resolved_at else '?'})"
            )
        if item.status not in WAITING:
            raise QueueConflict(f"review item #{item.id} is {item.status} and cannot be resolved")
        state = _update(
            conn, item.id, status=RESOLVED, resolved_at=now, resolved_by=name, resolution_note=text
        )
        audit(
            conn,
            now,
            name,
            "queue.resolve",
            "review_item",
            str(item.id),
            note=text,
            previous_status=item.status,
        )
    return state


def reopen_item(
    engine: Engine, item_id: int, actor: str, now: datetime, note: str | None = None
) -> ItemState:
    """Put a resolved item back in the queue (``open``); refused while a newer item of its thread waits.

    The resolution (who, when, note) is cleared from the item and kept in the audit entry.
    """
    name = check_actor(actor)
    text = check_note(note)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status != RESOLVED:
            raise QueueConflict(f"review item #{item.id} is {item.status}, not resolved")
        r = t.review_items
        waiting = conn.execute(
            select(r.c.id).where(r.c.thread_id == item.thread_id, r.c.status.in_(WAITING), r.c.id != item.id)
        ).first()
        if waiting is not None:
            raise QueueConflict(
                f"review item #{item.id}'s conversation already waits in review item #{waiting.id}"
            )
        state = _update(
            conn,
            item.id,
            status=OPEN,
            assignee=None,
            resolved_at=None,
            resolved_by=None,
            resolution_note=None,
        )
        audit(
            conn,
            now,
            name,
            "queue.reopen",
            "review_item",
            str(item.id),
            note=text,
            resolved_by=item.resolved_by,
            resolved_at=item.resolved_at.isoformat() if item.resolved_at else None,
            resolution_note=item.resolution_note,
        )
    return state


_ITEM_COLUMNS = (
    t.review_items.c.id,
    t.review_items.c.thread_id,
    t.review_items.c.message_id,
    t.review_items.c.status,
    t.review_items.c.assignee,
    t.review_items.c.resolved_at,
    t.review_items.c.resolved_by,
    t.review_items.c.resolution_note,
    t.review_items.c.updated_at,
)


def _lock_item(conn: Connection, item_id: int, now: datetime) -> ItemState:
    """Touch the item first, so the transaction holds its lock before reading it; raise if it is missing."""
    r = t.review_items
    touched = conn.execute(update(r).where(r.c.id == item_id).values(updated_at=now))
    if touched.rowcount == 0:
        raise ReviewItemNotFound(f"review item #{item_id} does not exist")
    return ItemState(**conn.execute(select(*_ITEM_COLUMNS).where(r.c.id == item_id)).one()._mapping)


def _update(conn: Connection, item_id: int, **values: object) -> ItemState:
    r = t.review_items
    conn.execute(update(r).where(r.c.id == item_id).values(**values))
    return ItemState(**conn.execute(select(*_ITEM_COLUMNS).where(r.c.id == item_id)).one()._mapping)


def _message_ref(conn: Connection, item: ItemState, message_id: int) -> str:
    """Return `platform:external_id` of a message of the item's conversation (or one linked to it)."""
    m, th = t.messages, t.threads
    row = conn.execute(
        select(m.c.platform, m.c.external_id)
        .join(th, th.c.id == m.c.thread_id)
        .where(
            m.c.id == message_id,
            or_(m.c.thread_id == item.thread_id, th.c.linked_thread_id == item.thread_id),
        )
    ).first()
    if row is None:
        raise QueueActionError(f"message {message_id} is not part of review item #{item.id}'s conversation")
    return f"{row.platform}:{row.external_id}"
