"""Repository for the Telegram team chat: which review items were announced, and the button presses.

`team_chat_posts` is the team chat's own small outbox: one row per (item, chat), the unique key
that makes announcing idempotent, moved ``pending`` → ``sending`` → ``posted`` in committed steps
so a crash never posts twice (a row left in ``sending`` becomes ``unknown``, never retried).
`team_chat_presses` holds each callback query once (its id is the key), so a replayed update
changes nothing. The functions here run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select, update

from storage import tables as t
from storage.bulk import insert_ignoring_conflicts
from tactful.domain import CallbackPress

# Post statuses.
PENDING = "pending"
SENDING = "sending"
POSTED = "posted"
FAILED = "failed"
UNKNOWN = "unknown"  # a crash interrupted the send: it may or may not be in the chat
GONE = "gone"  # the message was deleted from the chat; nothing left to edit
# Press statuses and answer statuses.
HANDLING = "handling"
DONE = "done"
IGNORED = "ignored"
INTERRUPTED = "interrupted"
ANSWERED = "answered"
# Why an item was announced.
RULE_PRIORITY = "priority"
RULE_DUE = "due"

DATA_MAX_BYTES = 64  # Telegram's callback_data limit
_WAITING = ("open", "claimed")


@dataclass(frozen=True, slots=True)
class AnnounceRule:
    """Which review items the team chat hears about.

    An open item is announced when its priority is at least `min_priority` and it is younger than
    `max_age`, or when its due time is within `due_within` from now or passed less than `max_age`
    ago (overdue included): turning the feature on does not replay the backlog.
    """

    min_priority: int
    max_age: timedelta
    due_within: timedelta


@dataclass(frozen=True, slots=True)
class PostRow:
    """A team-chat post as the sender sees it."""

    id: int
    item_id: int
    chat_id: str
    status: str
    attempts: int
    message_ref: str | None
    last_state: str | None


@dataclass(frozen=True, slots=True)
class ItemCard:
    """What a team-chat message shows about a review item (all customer text still untrusted)."""

    item_id: int
    priority: int
    platform: str
    status: str
    assignee: str | None
    resolved_by: str | None
    reason: str
    due_at: datetime | None
    category: str | None
    heat: float
    author_username: str | None
    author_display_name: str | None
    text: str
    troll_label: str | None  # "offensive" / "not_offensive" given by a person, or None
    troll_actor: str | None


@dataclass(frozen=True, slots=True)
class PressRow:
    """A stored button press."""

    callback_query_id: str
    telegram_user_id: int
    chat_id: str | None
    message_ref: str | None
    data: str | None
    received_at: datetime
    status: str
    answer: str | None


_POST_COLUMNS = (
    t.team_chat_posts.c.id,
    t.team_chat_posts.c.item_id,
    t.team_chat_posts.c.chat_id,
    t.team_chat_posts.c.status,
    t.team_chat_posts.c.attempts,
    t.team_chat_posts.c.message_ref,
    t.team_chat_posts.c.last_state,
)
_PRESS_COLUMNS = (
    t.team_chat_presses.c.callback_query_id,
    t.team_chat_presses.c.telegram_user_id,
    t.team_chat_presses.c.chat_id,
    t.team_chat_presses.c.message_ref,
    t.team_chat_presses.c.data,
    t.team_chat_presses.c.received_at,
    t.team_chat_presses.c.status,
    t.team_chat_presses.c.answer,
)


# --- posts -------------------------------------------------------------------------------


def queue_announcements(
    conn: Connection, chat_id: str, rule: AnnounceRule, now: datetime, limit: int = 50
) -> int:
    """Add a pending post for every open item the rule selects that this chat has not had; return how many."""
    r, p = t.review_items, t.team_chat_posts
    by_priority = and_(r.c.priority >= rule.min_priority, r.c.created_at >= now - rule.max_age)
    by_due = and_(r.c.due_at >= now - rule.max_age, r.c.due_at <= now + rule.due_within)
    posted = exists().where(and_(p.c.item_id == r.c.id, p.c.chat_id == chat_id))
    rows = conn.execute(
        select(r.c.id, by_priority.label("high"))
        .where(r.c.status == "open", or_(by_priority, by_due), ~posted)
        .order_by(r.c.priority.desc(), r.c.id)
        .limit(limit)
    ).all()
    insert_ignoring_conflicts(
        conn,
        p,
        [
            {
                "item_id": row.id,
                "chat_id": chat_id,
                "rule": RULE_PRIORITY if row.high else RULE_DUE,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row in rows
        ],
        ("item_id", "chat_id"),
    )
    return len(rows)


def due_posts(conn: Connection, now: datetime, limit: int = 20) -> list[PostRow]:
    """Return pending posts whose next attempt is due, oldest first."""
    p = t.team_chat_posts
    query = (
        select(*_POST_COLUMNS)
        .where(p.c.status == PENDING, p.c.next_attempt_at <= now)
        .order_by(p.c.id)
        .limit(limit)
    )
    return [PostRow(**row._mapping) for row in conn.execute(query)]


def mark_post_sending(conn: Connection, post_id: int, now: datetime) -> bool:
    """Move a post from pending to sending (commit before the call); False if another sender took it."""
    p = t.team_chat_posts
    done = conn.execute(
        update(p)
        .where(p.c.id == post_id, p.c.status == PENDING)
        .values(status=SENDING, attempts=p.c.attempts + 1, next_attempt_at=now)
    )
    return done.rowcount == 1


def mark_post_posted(
    conn: Connection, post_id: int, message_ref: str, state: str, shown_status: str, now: datetime
) -> None:
    """Record the message Telegram created and the item state it shows."""
    conn.execute(
        update(t.team_chat_posts)
        .where(t.team_chat_posts.c.id == post_id)
        .values(
            status=POSTED,
            message_ref=message_ref,
            last_state=state,
            shown_status=shown_status,
            state_at=now,
            posted_at=now,
            last_error=None,
        )
    )


def reschedule_post(
    conn: Connection, post_id: int, at: datetime, error: str, *, count_attempt: bool = True
) -> None:
    """Put a post back to pending for a later attempt (a rate limit does not count as an attempt)."""
    p = t.team_chat_posts
    values: dict[str, Any] = {"status": PENDING, "next_attempt_at": at, "last_error": error[:2000]}
    if not count_attempt:
        values["attempts"] = p.c.attempts - 1
    conn.execute(update(p).where(p.c.id == post_id).values(**values))


def mark_post_failed(conn: Connection, post_id: int, error: str, status: str = FAILED) -> None:
    """Give up on a post (or, with status ``gone``, on editing it), keeping the reason."""
    conn.execute(
        update(t.team_chat_posts)
        .where(t.team_chat_posts.c.id == post_id)
        .values(status=status, last_error=error[:2000])
    )


def mark_interrupted_posts(conn: Connection) -> list[int]:
    """Turn posts a crash left in ``sending`` into ``unknown`` (never sent again); return their item ids."""
    p = t.team_chat_posts
    items = list(conn.execute(select(p.c.item_id).where(p.c.status == SENDING)).scalars())
    conn.execute(
        update(p)
        .where(p.c.status == SENDING)
        .values(status=UNKNOWN, last_error="interrupted mid-send; it may be in the chat already")
    )
    return items


def posts_to_sync(conn: Connection, limit: int = 200) -> list[PostRow]:
    """Return posted messages whose item may show a different state now.

    Those of waiting items (their state changes often), those whose item's status differs from the
    status shown, and those whose item changed after the message was last written.
    """
    p, r = t.team_chat_posts, t.review_items
    query = (
        select(*_POST_COLUMNS)
        .join(r, r.c.id == p.c.item_id)
        .where(
            p.c.status == POSTED,
            p.c.message_ref.is_not(None),
            or_(
                r.c.status.in_(_WAITING),
                p.c.shown_status.is_(None),
                r.c.status != p.c.shown_status,
                r.c.updated_at > p.c.state_at,
            ),
        )
        .order_by(p.c.id)
        .limit(limit)
    )
    return [PostRow(**row._mapping) for row in conn.execute(query)]


def mark_post_synced(conn: Connection, post_id: int, state: str, shown_status: str, now: datetime) -> None:
    """Record that the message now shows `state`."""
    conn.execute(
        update(t.team_chat_posts)
        .where(t.team_chat_posts.c.id == post_id)
        .values(last_state=state, shown_status=shown_status, state_at=now, last_error=None)
    )


def post_for_item(conn: Connection, item_id: int, chat_id: str) -> PostRow | None:
    """Return this chat's post of a review item, if it has one."""
    p = t.team_chat_posts
    row = conn.execute(select(*_POST_COLUMNS).where(p.c.item_id == item_id, p.c.chat_id == chat_id)).first()
    return PostRow(**row._mapping) if row is not None else None


def adopt_message_ref(conn: Connection, post_id: int, message_ref: str, now: datetime) -> None:
    """Learn an ``unknown`` post's message from a press on it: it was posted after all."""
    p = t.team_chat_posts
    conn.execute(
        update(p)
        .where(p.c.id == post_id, p.c.status == UNKNOWN)
        .values(status=POSTED, message_ref=message_ref, posted_at=now, state_at=None, shown_status=None)
    )


def item_cards(conn: Connection, item_ids: Sequence[int]) -> dict[int, ItemCard]:
    """Return what the team chat shows about each review item, by id (missing ids are left out)."""
    if not item_ids:
        return {}
    r, m, a, th, v, hl = (
        t.review_items,
        t.messages,
        t.authors,
        t.threads,
        t.verdicts,
        t.human_labels,
    )
    query = (
        select(
            r.c.id.label("item_id"),
            r.c.priority,
            r.c.platform,
            r.c.status,
            r.c.assignee,
            r.c.resolved_by,
            r.c.reason,
            r.c.due_at,
            v.c.category,
            th.c.heat,
            a.c.username.label("author_username"),
            a.c.display_name.label("author_display_name"),
            m.c.text,
            hl.c.label.label("troll_label"),
            hl.c.actor.label("troll_actor"),
        )
        .join(m, m.c.id == r.c.message_id)
        .join(a, a.c.id == m.c.author_id)
        .join(th, th.c.id == r.c.thread_id)
        .outerjoin(v, v.c.message_id == m.c.id)
        .outerjoin(hl, and_(hl.c.message_id == m.c.id, hl.c.task == "offensive"))
        .where(r.c.id.in_(list(item_ids)))
    )
    return {row.item_id: ItemCard(**row._mapping) for row in conn.execute(query)}


# --- presses -----------------------------------------------------------------------------


def store_presses(conn: Connection, presses: Sequence[CallbackPress], now: datetime) -> None:
    """Keep each press once, by callback query id (a replayed update is ignored)."""
    rows = []
    for press in presses:
        if not press.user_id.isdigit() or len(press.callback_query_id) > 64:
            continue  # not something Telegram sends; nothing to answer either
        data = press.data
        if data is not None and len(data.encode("utf-8")) > DATA_MAX_BYTES:
            data = None  # never a button of ours; refused as unknown when handled
        rows.append(
            {
                "callback_query_id": press.callback_query_id,
                "telegram_user_id": int(press.user_id),
                "chat_id": press.chat_id[:32] if press.chat_id else None,
                "message_ref": press.message_external_id[:64] if press.message_external_id else None,
                "data": data,
                "received_at": now,
                "status": PENDING,
            }
        )
    insert_ignoring_conflicts(conn, t.team_chat_presses, rows, ("callback_query_id",))


def pending_presses(conn: Connection, limit: int = 50) -> list[PressRow]:
    """Return presses not handled yet, in arrival order."""
    q = t.team_chat_presses
    query = (
        select(*_PRESS_COLUMNS)
        .where(q.c.status == PENDING)
        .order_by(q.c.received_at, q.c.callback_query_id)
        .limit(limit)
    )
    return [PressRow(**row._mapping) for row in conn.execute(query)]


def mark_press_handling(conn: Connection, callback_query_id: str) -> bool:
    """Take a pending press (commit before acting); False if someone else took it."""
    q = t.team_chat_presses
    done = conn.execute(
        update(q)
        .where(q.c.callback_query_id == callback_query_id, q.c.status == PENDING)
        .values(status=HANDLING)
    )
    return done.rowcount == 1


def finish_press(
    conn: Connection,
    callback_query_id: str,
    *,
    status: str,
    outcome: str | None,
    answer: str | None,
    item_id: int | None,
    actor: str | None,
    now: datetime,
) -> None:
    """Record what a press did and what to answer (an ignored press gets no answer)."""
    q = t.team_chat_presses
    conn.execute(
        update(q)
        .where(q.c.callback_query_id == callback_query_id)
        .values(
            status=status,
            outcome=outcome,
            answer=answer[:255] if answer is not None else None,
            answer_status=PENDING if answer is not None else None,
            item_id=item_id,
            actor=actor,
            handled_at=now,
        )
    )


def presses_to_answer(conn: Connection, limit: int = 50) -> list[PressRow]:
    """Return handled presses whose answer has not been sent."""
    q = t.team_chat_presses
    query = (
        select(*_PRESS_COLUMNS)
        .where(q.c.status == DONE, q.c.answer_status == PENDING)
        .order_by(q.c.received_at, q.c.callback_query_id)
        .limit(limit)
    )
    return [PressRow(**row._mapping) for row in conn.execute(query)]


def mark_press_answered(conn: Connection, callback_query_id: str, answer_status: str) -> None:
    """Record the answer's fate: ``answered`` or ``failed``."""
    q = t.team_chat_presses
    conn.execute(
        update(q).where(q.c.callback_query_id == callback_query_id).values(answer_status=answer_status)
    )


def mark_interrupted_presses(conn: Connection) -> int:
    """Turn presses a crash left mid-action into ``interrupted`` (never applied twice); return how many."""
    q = t.team_chat_presses
    return conn.execute(update(q).where(q.c.status == HANDLING).values(status=INTERRUPTED)).rowcount
