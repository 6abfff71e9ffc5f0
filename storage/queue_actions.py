"""What people do with review items: label, claim, release, assign, reply, move private, hide, resolve, reopen.

This module is the one place queue actions happen; the command line, the dashboard and the team
chat all call it. Every action checks its inputs before touching the database (ValueError naming
what is allowed), runs in one transaction of its own, locks the item first (a row lock on
PostgreSQL, the write lock on SQLite), refuses an action the item's state does not allow
(`QueueConflict`), and writes an audit row naming the person (`actor`).

Statuses: ``open`` → ``claimed`` (someone took it) → ``resolved``; ``open`` and ``claimed`` are
both waiting, and the processing pipeline adds new messages of the thread to them. A thread has
at most one waiting item, so reopening is refused while a newer one waits.

`respect_claim=True` (what a dashboard agent gets; managers and admins get False) refuses an
action on an item someone else has claimed, naming who holds it.

A reply, a move to private or a resolve settles the conversation's pending promises
(`storage.promises.keep_promises`: kept when by their time). Replies, moves to a private channel
and hides are not sent here: they become outbox rows (rule
``human``, policy version ``human:<actor>``) that the outbox dispatcher sends like automation's.
A reply or move carries the form's `request_key`, so a form submitted twice queues one row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, or_, select, update

from bots.base import PrivateRoute, SendKind
from storage import tables as t
from storage.bulk import insert_ignoring_conflicts
from storage.labels import check_actor, set_label
from storage.outbox import audit
from storage.promises import keep_promises
from storage.users import check_user_name
from tactful.domain import Author, Channel, IncomingMessage, Platform
from tactful.errors import TactfulError
from tactful.labels import LabelTask, TrainingLabel, parse_queue_label

OPEN = "open"
CLAIMED = "claimed"
RESOLVED = "resolved"
WAITING = (OPEN, CLAIMED)
NOTE_MAX = 2000
HUMAN_RULE_ID = "human"
#: Longest text a person may send per platform (X counts characters its own way; this is the plain bound).
TEXT_MAX = {"x": 280, "facebook": 8000, "telegram": 4096}
#: Where a message can be hidden: Facebook comments and Telegram group messages (deleted), never on X.
HIDE_PLATFORMS = frozenset({"facebook", "telegram"})
PRIVATE_INVITATION = "We would like to help you with this in a private conversation."
_REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")

PrivateRouter = Callable[[IncomingMessage], PrivateRoute | None]


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


@dataclass(frozen=True, slots=True)
class OutboxRequest:
    """What a person asked automation to send: the outbox row, and whether this call queued it."""

    outbox_id: int
    kind: str
    message_id: int
    created: bool  # False: the same request (or an identical hide) was queued before; nothing new


def human_policy_version(actor: str) -> str:
    """The policy version an outbox row sent on a person's behalf cites: ``human:<name>``."""
    return f"human:{actor}"


def check_request_key(key: str) -> str:
    """Return a form's request key, or raise ValueError (16 to 64 letters, digits, '-' or '_')."""
    if not _REQUEST_KEY.fullmatch(key or ""):
        raise ValueError("the form is missing its request key; reload the page")
    return key


def check_text(text: str | None, platform: str | None = None, what: str = "text") -> str:
    """Return the text stripped, or raise ValueError if it is blank or longer than the platform takes."""
    body = (text or "").strip()
    if not body:
        raise ValueError(f"the {what} is empty")
    limit = TEXT_MAX.get(platform or "", max(TEXT_MAX.values()))
    if len(body) > limit:
        where = f" on {platform}" if platform else ""
        raise ValueError(f"the {what} is {len(body)} characters; at most {limit}{where}")
    return body


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


def release_item(
    engine: Engine, item_id: int, actor: str, now: datetime, *, respect_claim: bool = False
) -> ItemState:
    """Give a claimed item back to the queue (``open``, no assignee); with `respect_claim`, only its holder may."""
    name = check_actor(actor)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status != CLAIMED:
            raise QueueConflict(f"review item #{item.id} is {item.status}, not claimed")
        _check_holder(item, name, respect_claim)
        state = _update(conn, item.id, status=OPEN, assignee=None)
        audit(conn, now, name, "queue.release", "review_item", str(item.id), previous_assignee=item.assignee)
    return state


def resolve_item(
    engine: Engine,
    item_id: int,
    actor: str,
    now: datetime,
    note: str | None = None,
    *,
    respect_claim: bool = False,
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
        _check_holder(item, name, respect_claim)
        state = _update(
            conn, item.id, status=RESOLVED, resolved_at=now, resolved_by=name, resolution_note=text
        )
        keep_promises(conn, item.thread_id, name, now)
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


def assign_item(
    engine: Engine, item_id: int, assignee: str, actor: str, now: datetime, *, respect_claim: bool = False
) -> ItemState:
    """Give a waiting item to `assignee` (an enabled user): it becomes ``claimed`` by them.

    With `respect_claim`, an item someone else holds is refused; assigning an item to the person
    who already holds it changes nothing.
    """
    name = check_actor(actor)
    target = check_user_name(assignee)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        if item.status not in WAITING:
            raise QueueConflict(f"review item #{item.id} is {item.status}; reopen it first")
        _check_holder(item, name, respect_claim)
        u = t.users
        known = conn.execute(select(u.c.id).where(u.c.name == target, u.c.disabled.is_(False))).first()
        if known is None:
            raise QueueActionError(f"there is no enabled user called {target}")
        if item.status == CLAIMED and item.assignee == target:
            return item
        state = _update(conn, item.id, status=CLAIMED, assignee=target)
        audit(
            conn,
            now,
            name,
            "queue.assign",
            "review_item",
            str(item.id),
            assignee=target,
            previous_assignee=item.assignee,
        )
    return state


def reply_to_item(
    engine: Engine,
    item_id: int,
    text: str,
    actor: str,
    now: datetime,
    *,
    request_key: str,
    message_id: int | None = None,
    respect_claim: bool = False,
) -> OutboxRequest:
    """Queue a person's reply to a customer message of a waiting item (default: the latest one).

    Public messages get a ``public_reply``, private ones (DM, Messenger, Telegram private chat) a
    ``direct_message``, as automation's acknowledgements do; the thread then counts as
    acknowledged, so automation does not acknowledge it again. The same `request_key` queues
    one row however often it is submitted.
    """
    name = check_actor(actor)
    key = check_request_key(request_key)
    check_text(text, what="reply")
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        idempotency_key = f"human:reply:{item.id}:{key}"
        earlier = _queued(conn, idempotency_key)
        if earlier is not None:
            return earlier
        _check_waiting(item)
        _check_holder(item, name, respect_claim)
        target = _target_message(conn, item, message_id)
        body = check_text(text, target.platform, "reply")
        kind = SendKind.DIRECT_MESSAGE if target.is_private else SendKind.PUBLIC_REPLY
        request = _queue_send(conn, target, kind, idempotency_key, name, now, text=body)
        conn.execute(update(t.threads).where(t.threads.c.id == target.thread_id).values(acknowledged=True))
        keep_promises(conn, item.thread_id, name, now)
        audit(
            conn,
            now,
            name,
            "queue.reply",
            "review_item",
            str(item.id),
            outbox_id=request.outbox_id,
            message_id=target.id,
            kind=kind.value,
        )
    return request


def move_item_private(
    engine: Engine,
    item_id: int,
    text: str,
    actor: str,
    now: datetime,
    *,
    request_key: str,
    router: PrivateRouter | None,
    fallback_text: str | None = None,
    message_id: int | None = None,
    respect_claim: bool = False,
) -> OutboxRequest:
    """Take a waiting item's conversation private with a person's message, by the platform's private route.

    `router` is the platform's route (`tactful.platforms.private_routes`): an X direct message,
    a Facebook private reply to the comment, a Telegram private message. Where the private message
    cannot be delivered, the bot posts `fallback_text` publicly with the route's link (X: in the
    text; Telegram: a button). A conversation that is private already, or a platform without a
    route, is refused. The thread then counts as moved private.
    """
    name = check_actor(actor)
    key = check_request_key(request_key)
    check_text(text, what="private message")
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        idempotency_key = f"human:private:{item.id}:{key}"
        earlier = _queued(conn, idempotency_key)
        if earlier is not None:
            return earlier
        _check_waiting(item)
        _check_holder(item, name, respect_claim)
        target = _target_message(conn, item, message_id)
        body = check_text(text, target.platform, "private message")
        if target.is_private:
            raise QueueActionError("this conversation is private already; reply instead")
        route = router(target.incoming()) if router is not None else None
        if route is None:
            raise QueueActionError(f"{target.platform} offers no private channel for this message")
        fallback = None
        if route.link:
            fallback = (fallback_text or "").strip() or PRIVATE_INVITATION
            if target.platform == Platform.X.value and route.link not in fallback:
                fallback = f"{fallback} {route.link}"
            fallback = check_text(fallback, target.platform, "public invitation")
        request = _queue_send(
            conn,
            target,
            route.kind,
            idempotency_key,
            name,
            now,
            text=body,
            fallback=fallback,
            link=route.link,
        )
        if route.token is not None:
            insert_ignoring_conflicts(
                conn,
                t.private_links,
                [
                    {
                        "token": route.token,
                        "platform": target.platform,
                        "thread_id": target.thread_id,
                        "message_id": target.id,
                        "created_at": now,
                    }
                ],
                ("token",),
            )
        conn.execute(update(t.threads).where(t.threads.c.id == target.thread_id).values(moved_private=True))
        keep_promises(conn, item.thread_id, name, now)
        audit(
            conn,
            now,
            name,
            "queue.move_private",
            "review_item",
            str(item.id),
            outbox_id=request.outbox_id,
            message_id=target.id,
            kind=route.kind.value,
        )
    return request


def hide_message(
    engine: Engine,
    item_id: int,
    message_id: int,
    actor: str,
    now: datetime,
    *,
    respect_claim: bool = False,
) -> OutboxRequest:
    """Queue hiding a customer message of a waiting item (a Facebook comment, a Telegram group message).

    X, Messenger and private chats offer no hiding and are refused. A message automation already
    decided to hide is not queued twice (same idempotency key as automation's).
    """
    name = check_actor(actor)
    with engine.begin() as conn:
        item = _lock_item(conn, item_id, now)
        target = _target_message(conn, item, message_id)
        if target.platform not in HIDE_PLATFORMS:
            raise QueueActionError(f"messages on {target.platform} cannot be hidden from here")
        if target.is_private:
            raise QueueActionError("a private message cannot be hidden")
        idempotency_key = f"{target.platform}:{target.external_id}:hide"
        earlier = _queued(conn, idempotency_key)
        if earlier is not None:
            return earlier
        _check_waiting(item)
        _check_holder(item, name, respect_claim)
        request = _queue_send(conn, target, SendKind.HIDE, idempotency_key, name, now)
        audit(
            conn,
            now,
            name,
            "queue.hide",
            "review_item",
            str(item.id),
            outbox_id=request.outbox_id,
            message_id=target.id,
        )
    return request


@dataclass(frozen=True, slots=True)
class _Target:
    """A customer message of an item's conversation, with what an outbox row and a route need."""

    id: int
    platform: str
    external_id: str
    channel: str
    thread_id: int
    thread_external_id: str
    author_id: int
    author_external_id: str
    author_username: str | None
    author_display_name: str | None
    author_is_bot: bool
    text: str
    created_at: datetime
    is_private: bool
    in_reply_to_external_id: str | None
    language_hint: str | None

    def incoming(self) -> IncomingMessage:
        """The message as the platform routes see it."""
        platform = Platform(self.platform)
        return IncomingMessage(
            platform=platform,
            channel=Channel(self.channel),
            external_id=self.external_id,
            thread_external_id=self.thread_external_id,
            author=Author(
                platform=platform,
                external_id=self.author_external_id,
                username=self.author_username,
                display_name=self.author_display_name,
                is_bot=self.author_is_bot,
            ),
            text=self.text,
            created_at=self.created_at,
            in_reply_to_external_id=self.in_reply_to_external_id,
            language_hint=self.language_hint,
            is_private=self.is_private,
        )


def _target_message(conn: Connection, item: ItemState, message_id: int | None) -> _Target:
    """Return a customer message of the item's conversation: `message_id`, or the latest one."""
    m, th, a, acc = t.messages, t.threads, t.authors, t.accounts
    ours = exists().where(and_(acc.c.platform == m.c.platform, acc.c.external_id == a.c.external_id))
    query = (
        select(
            m.c.id,
            m.c.platform,
            m.c.external_id,
            m.c.channel,
            m.c.thread_id,
            th.c.external_id.label("thread_external_id"),
            m.c.author_id,
            a.c.external_id.label("author_external_id"),
            a.c.username.label("author_username"),
            a.c.display_name.label("author_display_name"),
            a.c.is_bot.label("author_is_bot"),
            m.c.text,
            m.c.created_at,
            m.c.is_private,
            m.c.in_reply_to_external_id,
            m.c.language_hint,
        )
        .join(th, th.c.id == m.c.thread_id)
        .join(a, a.c.id == m.c.author_id)
        .where(or_(m.c.thread_id == item.thread_id, th.c.linked_thread_id == item.thread_id), ~ours)
    )
    if message_id is not None:
        row = conn.execute(query.where(m.c.id == message_id)).first()
        if row is None:
            raise QueueActionError(
                f"message {message_id} is not a customer message of review item #{item.id}'s conversation"
            )
    else:
        row = conn.execute(query.order_by(m.c.created_at.desc(), m.c.id.desc()).limit(1)).first()
        if row is None:
            raise QueueActionError(f"review item #{item.id} has no customer message to answer")
    return _Target(**row._mapping)


def _queued(conn: Connection, idempotency_key: str) -> OutboxRequest | None:
    o = t.outbox
    row = conn.execute(
        select(o.c.id, o.c.kind, o.c.message_id).where(o.c.idempotency_key == idempotency_key)
    ).first()
    if row is None:
        return None
    return OutboxRequest(outbox_id=row.id, kind=row.kind, message_id=row.message_id, created=False)


def _queue_send(
    conn: Connection,
    target: _Target,
    kind: SendKind,
    idempotency_key: str,
    actor: str,
    now: datetime,
    *,
    text: str | None = None,
    fallback: str | None = None,
    link: str | None = None,
) -> OutboxRequest:
    """Insert the outbox row, shaped like automation's (tactful/processing.py `_outbox_row`)."""
    values: dict[str, Any] = {
        "idempotency_key": idempotency_key,
        "message_id": target.id,
        "thread_id": target.thread_id,
        "author_id": target.author_id,
        "platform": target.platform,
        "kind": kind.value,
        "thread_external_id": target.thread_external_id,
        "target_external_id": target.external_id,
        "recipient_external_id": target.author_external_id,
        "text": text,
        "fallback_text": fallback,
        "private_link": link,
        "source_created_at": target.created_at,
        "template_id": None,
        "variant": None,
        "rule_id": HUMAN_RULE_ID,
        "policy_version": human_policy_version(actor),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    key = conn.execute(t.outbox.insert().values(**values)).inserted_primary_key
    assert key is not None
    return OutboxRequest(outbox_id=int(key[0]), kind=kind.value, message_id=target.id, created=True)


def _check_waiting(item: ItemState) -> None:
    if item.status not in WAITING:
        raise QueueConflict(f"review item #{item.id} is {item.status}; reopen it first")


def _check_holder(item: ItemState, actor: str, respect_claim: bool) -> None:
    """With `respect_claim`, refuse an item that someone other than `actor` has claimed."""
    if respect_claim and item.status == CLAIMED and item.assignee != actor:
        raise QueueConflict(
            f"review item #{item.id} is claimed by {item.assignee}; only they or a manager may do that"
        )


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
