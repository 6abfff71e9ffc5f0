"""Repository for the processing stage: claim new messages with their context, write the outcome."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, case, func, or_, select, update

from storage import tables as t
from storage.bulk import chunks, execute_many, insert_ignoring_conflicts
from storage.response_metrics import note_customer_messages

SEND_KINDS = ("public_reply", "direct_message", "private_reply")
WAITING_STATUSES = ("open", "claimed")  # review items a person has not resolved yet


@dataclass(slots=True)
class PendingMessage:
    """A stored message awaiting moderation and a decision, joined with its author and thread."""

    id: int
    platform: str
    channel: str
    external_id: str
    thread_id: int
    thread_external_id: str
    author_id: int
    author_external_id: str
    author_username: str | None
    author_display_name: str | None
    author_is_bot: bool
    text: str
    created_at: datetime
    in_reply_to_external_id: str | None
    language_hint: str | None
    is_private: bool
    private_link_token: str | None = None
    author_messages: int = 0
    author_trolls: int = 0
    author_first_message_at: datetime | None = None
    author_last_troll_at: datetime | None = None


@dataclass(slots=True)
class ThreadState:
    """What the processing stage needs to know about a thread, updated in memory through a batch."""

    heat: float
    heat_state: dict[str, Any] | None
    acknowledged: bool
    moved_private: bool
    last_message_at: datetime
    open_item_id: int | None = None
    open_item_priority: int = 0
    changed: bool = False


@dataclass(slots=True)
class AuthorSendState:
    """Recent automated sends to one author: count in the last day and the last template variant."""

    sends_last_day: int = 0
    last_variant: tuple[str, int] | None = None


@dataclass(slots=True)
class BatchOutcome:
    """Every row one processed batch writes, applied in a single transaction."""

    message_ids: list[int] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    new_review_items: dict[int, dict[str, Any]] = field(default_factory=dict)  # by thread id
    review_updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # by review item id
    threads: dict[int, ThreadState] = field(default_factory=dict)
    private_links: list[dict[str, Any]] = field(default_factory=list)  # links handed out
    thread_links: list[dict[str, Any]] = field(default_factory=list)  # private chats opened from them
    author_history: dict[int, AuthorCounts] = field(default_factory=dict)  # by author id
    customer_messages: list[int] = field(default_factory=list)  # ids, noted for response metrics
    promises: list[dict[str, Any]] = field(default_factory=list)  # reply times the sends promise


@dataclass(slots=True)
class AuthorCounts:
    """What one batch adds to an author's history counters."""

    messages: int = 0
    trolls: int = 0
    first_message_at: datetime | None = None
    last_troll_at: datetime | None = None

    def add(self, created_at: datetime, troll: bool) -> None:
        """Count one processed message."""
        self.messages += 1
        if self.first_message_at is None or created_at < self.first_message_at:
            self.first_message_at = created_at
        if troll:
            self.trolls += 1
            if self.last_troll_at is None or created_at > self.last_troll_at:
                self.last_troll_at = created_at


class ConcurrentProcessing(Exception):
    """Some messages of a batch were processed by another worker meanwhile; the batch is discarded."""


def claim_new_messages(
    conn: Connection,
    limit: int,
    now: datetime,
    lease: timedelta,
    partition: tuple[int, int] | None = None,
) -> list[PendingMessage]:
    """Claim the oldest unprocessed messages for this worker, with their author and thread.

    A claim is a lease: messages claimed by a worker that died are claimed again once the lease
    expires. On PostgreSQL the candidate rows are locked with SKIP LOCKED so that concurrent
    workers never claim the same message. With `partition` ``(k, n)`` only messages of threads
    whose id is ``k`` modulo ``n`` are claimed, so each thread is handled by one worker in order.
    """
    m = t.messages
    claimable = or_(m.c.status == "new", and_(m.c.status == "claimed", m.c.claimed_at < now - lease))
    if partition is not None:
        claimable = and_(claimable, _in_partition(partition))
    ids_query = select(m.c.id).where(claimable).order_by(m.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        ids_query = ids_query.with_for_update(skip_locked=True)
    ids = conn.execute(ids_query).scalars().all()
    if not ids:
        return []
    conn.execute(update(m).where(m.c.id.in_(ids)).values(status="claimed", claimed_at=now))
    return _pending(conn, m.c.id.in_(ids), len(ids))


def read_partition(
    conn: Connection, limit: int, partition: tuple[int | Collection[int], int]
) -> list[PendingMessage]:
    """Read the oldest unprocessed messages of partitions this worker owns alone, without claiming.

    `partition` is ``(k, n)`` (threads whose id is k modulo n) or ``({k1, k2, …}, n)`` (any of them).

    Nothing is written: the batch is marked processed in the transaction that stores its outcome,
    which checks that no other worker got there first (`write_outcome` raises ConcurrentProcessing).
    """
    which, count = partition
    indexes = _partition_indexes(which, count)
    # The ids come first, each read walking the (status, id) index in order and stopping at
    # `limit`; an IN over both statuses would sort, and joining authors and threads in the same
    # query lets the planner join the whole backlog before it limits (a scan per batch).
    # Messages left "claimed" by a claim-mode processor that died come first (they are older).
    ids = list(
        conn.execute(
            _pending_ids_of_partitions("claimed", count), {"partitions": indexes, "limit": limit}
        ).scalars()
    )
    if len(ids) < limit:
        more = {"partitions": indexes, "limit": limit - len(ids)}
        ids += conn.execute(_pending_ids_of_partitions("new", count), more).scalars()
    rows: list[PendingMessage] = []
    for part in chunks(ids):
        rows += _rows(conn, _PENDING_OF_IDS, {"ids": part})
    return rows


def _partition_indexes(which: int | Collection[int], count: int) -> list[int]:
    """Return the partition numbers as a sorted list, refusing ones that do not exist."""
    indexes = sorted({which} if isinstance(which, int) else set(which))
    if not indexes or not all(0 <= index < count for index in indexes):
        raise ValueError(f"partitions {indexes} of {count} do not exist")
    return indexes


def _in_partition(partition: tuple[int | Collection[int], int]) -> Any:
    which, count = partition
    indexes = _partition_indexes(which, count)
    remainder = t.messages.c.thread_id % count
    return remainder == indexes[0] if len(indexes) == 1 else remainder.in_(indexes)


def _pending_select() -> Select[Any]:
    """Select a pending message with what deciding needs of its author and thread (no condition yet)."""
    m, a, th = t.messages, t.authors, t.threads
    return (
        select(
            m.c.id,
            m.c.platform,
            m.c.channel,
            m.c.external_id,
            m.c.thread_id,
            th.c.external_id.label("thread_external_id"),
            m.c.author_id,
            a.c.external_id.label("author_external_id"),
            a.c.username.label("author_username"),
            a.c.display_name.label("author_display_name"),
            a.c.is_bot.label("author_is_bot"),
            m.c.text,
            m.c.created_at,
            m.c.in_reply_to_external_id,
            m.c.language_hint,
            m.c.is_private,
            m.c.private_link_token,
            a.c.messages_processed,
            a.c.troll_verdicts,
            a.c.first_message_at,
            a.c.last_troll_at,
        )
        .join(a, a.c.id == m.c.author_id)
        .join(th, th.c.id == m.c.thread_id)
        .order_by(m.c.id)
    )


@functools.cache
def _pending_ids_of_partitions(status: str, count: int) -> Select[Any]:
    """The ids of the oldest messages in `status` of some of `count` partitions (bound: partitions, limit).

    Built once per status and partition count: a worker runs it for every batch, and building
    and compiling the statement again each time costs more than running it on a small batch.
    """
    m = t.messages
    in_partitions = (m.c.thread_id % count).in_(bindparam("partitions", expanding=True))
    return (
        select(m.c.id)
        .where(and_(m.c.status == status, in_partitions))
        .order_by(m.c.id)
        .limit(bindparam("limit"))
    )


_PENDING_OF_IDS = _pending_select().where(t.messages.c.id.in_(bindparam("ids", expanding=True)))


def _pending(conn: Connection, condition: Any, limit: int) -> list[PendingMessage]:
    return _rows(conn, _pending_select().where(condition).limit(limit), {})


def _rows(conn: Connection, query: Select[Any], params: dict[str, Any]) -> list[PendingMessage]:
    return [PendingMessage(*row) for row in conn.execute(query, params).all()]


def load_thread_states(conn: Connection, thread_ids: set[int]) -> dict[int, ThreadState]:
    """Load heat, flags and the open review item of each thread."""
    states: dict[int, ThreadState] = {}
    ordered = sorted(thread_ids)
    for part in chunks(ordered):
        for row in conn.execute(_THREAD_STATES, {"ids": part}).all():
            states[row[0]] = ThreadState(
                heat=row[1],
                heat_state=row[2],
                acknowledged=row[3],
                moved_private=row[4],
                last_message_at=row[5],
            )
        for item_id, thread_id, priority in conn.execute(_WAITING_ITEMS, {"thread_ids": part}).all():
            states[thread_id].open_item_id = item_id
            states[thread_id].open_item_priority = priority
    return states


def waiting_items_of_threads(thread_ids: Sequence[int]) -> Select[Any]:
    """Select (id, thread id, priority) of the items still waiting for a person in these threads."""
    r = t.review_items
    return select(r.c.id, r.c.thread_id, r.c.priority).where(
        and_(r.c.thread_id.in_(thread_ids), r.c.status.in_(WAITING_STATUSES))
    )


# Statements every batch runs, built once (bound: ids / thread_ids / since / item_ids).
_THREAD_STATES = select(
    t.threads.c.id,
    t.threads.c.heat,
    t.threads.c.heat_state,
    t.threads.c.acknowledged,
    t.threads.c.moved_private,
    t.threads.c.last_message_at,
).where(t.threads.c.id.in_(bindparam("ids", expanding=True)))
_WAITING_ITEMS = waiting_items_of_threads(bindparam("thread_ids", expanding=True))  # type: ignore[arg-type]
_SEND_COUNTS = (
    select(t.outbox.c.author_id, func.count())
    .where(
        and_(
            t.outbox.c.author_id.in_(bindparam("ids", expanding=True)),
            t.outbox.c.created_at >= bindparam("since", type_=t.outbox.c.created_at.type),
            t.outbox.c.kind.in_(SEND_KINDS),
        )
    )
    .group_by(t.outbox.c.author_id)
)
_LAST_VARIANTS = select(t.outbox.c.author_id, t.outbox.c.template_id, t.outbox.c.variant).where(
    t.outbox.c.id.in_(
        select(func.max(t.outbox.c.id))
        .where(
            and_(
                t.outbox.c.author_id.in_(bindparam("ids", expanding=True)),
                t.outbox.c.template_id.is_not(None),
            )
        )
        .group_by(t.outbox.c.author_id)
    )
)
_MARK_PROCESSED = (
    update(t.messages)
    .where(and_(t.messages.c.id.in_(bindparam("ids", expanding=True)), t.messages.c.status != "processed"))
    .values(status="processed", claimed_at=None)
)
_WAITING_OF_ITEMS = select(t.review_items.c.id).where(
    and_(
        t.review_items.c.id.in_(bindparam("item_ids", expanding=True)),
        t.review_items.c.status.in_(WAITING_STATUSES),
    )
)
_WAITING_OF_ITEMS_LOCKED = _WAITING_OF_ITEMS.with_for_update()
_LOCK_AUTHORS_IN_ORDER = (
    select(t.authors.c.id)
    .where(t.authors.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.authors.c.id)
    # The lock an UPDATE of non-key columns takes: it does not wait for the key-share locks that
    # other workers' foreign keys (outbox.author_id) hold on the same authors.
    .with_for_update(key_share=True)
)


def load_author_send_states(
    conn: Connection, author_ids: set[int], since: datetime, known: set[int] | None = None
) -> dict[int, AuthorSendState]:
    """Count automated sends per author since `since` and find the last template variant each received.

    Only the authors in `known` (default: all) are looked up; the others start with no sends.
    """
    states = {author_id: AuthorSendState() for author_id in author_ids}
    ordered = sorted(author_ids if known is None else author_ids & known)
    for part in chunks(ordered):
        for author_id, count in conn.execute(_SEND_COUNTS, {"ids": part, "since": since}).all():
            states[author_id].sends_last_day = count
        for author_id, template_id, variant in conn.execute(_LAST_VARIANTS, {"ids": part}).all():
            states[author_id].last_variant = (template_id, variant)
    return states


def load_private_links(conn: Connection, tokens: set[str]) -> dict[str, int]:
    """Return the original thread id of each known private-link token."""
    pl = t.private_links
    found: dict[str, int] = {}
    for part in chunks(sorted(tokens)):
        found.update(
            {
                token: thread_id
                for token, thread_id in conn.execute(
                    select(pl.c.token, pl.c.thread_id).where(pl.c.token.in_(part))
                ).all()
            }
        )
    return found


def own_accounts(conn: Connection) -> set[tuple[str, str]]:
    """Return (platform, external id) of every brand account, whose posts are never answered."""
    return {(p, e) for p, e in conn.execute(select(t.accounts.c.platform, t.accounts.c.external_id))}


def _waiting_items(conn: Connection, item_ids: list[int]) -> set[int]:
    """Return which of the items still wait for a person, locking them against a concurrent resolve."""
    query = _WAITING_OF_ITEMS_LOCKED if conn.dialect.name == "postgresql" else _WAITING_OF_ITEMS
    waiting: set[int] = set()
    for part in chunks(sorted(item_ids)):
        waiting.update(conn.execute(query, {"item_ids": part}).scalars())
    return waiting


def _apply_review_updates(conn: Connection, updates: dict[int, dict[str, Any]], now: datetime) -> None:
    """Add the batch's messages to their threads' waiting items; open a new item where a person resolved it meanwhile."""
    r = t.review_items
    waiting = _waiting_items(conn, list(updates))
    due = bindparam("due", type_=r.c.due_at.type)
    execute_many(
        conn,
        update(r)
        .where(r.c.id == bindparam("item_id"))
        .values(
            priority=bindparam("priority"),
            message_id=bindparam("latest_message_id"),
            reason=bindparam("latest_reason"),
            message_count=r.c.message_count + bindparam("added"),
            updated_at=now,
            # The earliest due time wins (a complaint in a thread opened by praise is due sooner).
            due_at=case(
                (and_(due.is_not(None), or_(r.c.due_at.is_(None), r.c.due_at > due)), due),
                else_=r.c.due_at,
            ),
        ),
        [
            {
                "item_id": item_id,
                "priority": u["priority"],
                "latest_message_id": u["latest_message_id"],
                "latest_reason": u["latest_reason"],
                "added": u["added"],
                "due": u.get("due_at"),
            }
            for item_id, u in updates.items()
            if item_id in waiting
        ],
    )
    reopened = [
        {
            "thread_id": u["thread_id"],
            "message_id": u["latest_message_id"],
            "platform": u["platform"],
            "priority": u["priority"],
            "reason": u["latest_reason"],
            "status": "open",
            "message_count": u["added"],
            "created_at": now,
            "updated_at": now,
            "due_at": u.get("due_at"),
        }
        for item_id, u in updates.items()
        if item_id not in waiting
    ]
    if reopened:
        execute_many(conn, t.review_items.insert(), reopened)


def _add_author_history(conn: Connection, counts: dict[int, AuthorCounts]) -> None:
    """Add the batch's processed messages and troll verdicts to each author's counters.

    `first_message_at` keeps the first processed message's time (set once); troll counters are
    written only for the few authors with a troll verdict in the batch, so the common case binds
    one timestamp per author. Rows are locked (PostgreSQL) and updated in id order, so that two
    workers whose batches share authors wait for each other instead of deadlocking, whatever
    plan the database picks for the one-statement update (`storage.recordset`).
    """
    a = t.authors
    counts = dict(sorted(counts.items()))
    if conn.dialect.name == "postgresql":
        for part in chunks(list(counts)):
            conn.execute(_LOCK_AUTHORS_IN_ORDER, {"ids": part})
    execute_many(
        conn,
        update(a)
        .where(a.c.id == bindparam("aid"))
        .values(
            messages_processed=a.c.messages_processed + bindparam("added"),
            first_message_at=func.coalesce(
                a.c.first_message_at, bindparam("first_at", type_=a.c.first_message_at.type)
            ),
        ),
        [
            {"aid": author_id, "added": c.messages, "first_at": c.first_message_at}
            for author_id, c in counts.items()
        ],
    )
    trolls = [(author_id, c) for author_id, c in counts.items() if c.trolls]
    if not trolls:
        return
    last_troll = bindparam("last_troll", type_=a.c.last_troll_at.type)
    execute_many(
        conn,
        update(a)
        .where(a.c.id == bindparam("aid"))
        .values(
            troll_verdicts=a.c.troll_verdicts + bindparam("trolls"),
            last_troll_at=case(
                (or_(a.c.last_troll_at.is_(None), a.c.last_troll_at < last_troll), last_troll),
                else_=a.c.last_troll_at,
            ),
        ),
        [{"aid": author_id, "trolls": c.trolls, "last_troll": c.last_troll_at} for author_id, c in trolls],
    )


def write_outcome(conn: Connection, outcome: BatchOutcome, now: datetime) -> None:
    """Apply one batch's verdicts, decisions, outbox rows, review items and thread updates.

    The batch's messages are marked processed first; if another worker processed any of them
    meanwhile, ConcurrentProcessing is raised before anything else is written (roll back).
    """
    marked = 0
    for part in chunks(outcome.message_ids):
        marked += conn.execute(_MARK_PROCESSED, {"ids": part}).rowcount
    if marked != len(outcome.message_ids):
        raise ConcurrentProcessing(
            f"{len(outcome.message_ids) - marked} of {len(outcome.message_ids)} messages were already processed"
        )
    if outcome.verdicts:
        execute_many(conn, t.verdicts.insert(), outcome.verdicts)
    if outcome.decisions:
        execute_many(conn, t.decisions.insert(), outcome.decisions)
    insert_ignoring_conflicts(conn, t.outbox, outcome.outbox, ("idempotency_key",))
    insert_ignoring_conflicts(conn, t.private_links, outcome.private_links, ("token",))
    insert_ignoring_conflicts(conn, t.promises, outcome.promises, ("outbox_key",))
    if outcome.thread_links:
        pl, th = t.private_links, t.threads
        execute_many(
            conn,
            update(pl)
            .where(pl.c.token == bindparam("link_token"))
            .values(used_at=bindparam("link_used_at"), private_thread_id=bindparam("link_private_thread")),
            [
                {
                    "link_token": link["token"],
                    "link_used_at": link["used_at"],
                    "link_private_thread": link["private_thread_id"],
                }
                for link in outcome.thread_links
            ],
        )
        execute_many(
            conn,
            update(th)
            .where(th.c.id == bindparam("private_thread"))
            .values(linked_thread_id=bindparam("original_thread")),
            [
                {"private_thread": link["private_thread_id"], "original_thread": link["thread_id"]}
                for link in outcome.thread_links
            ],
        )
    if outcome.new_review_items:
        execute_many(conn, t.review_items.insert(), list(outcome.new_review_items.values()))
    if outcome.review_updates:
        _apply_review_updates(conn, outcome.review_updates, now)
    if outcome.author_history:
        _add_author_history(conn, outcome.author_history)
    note_customer_messages(conn, outcome.customer_messages)
    changed = [(tid, s) for tid, s in outcome.threads.items() if s.changed]
    if changed:
        th = t.threads
        execute_many(
            conn,
            update(th)
            .where(th.c.id == bindparam("tid"))
            .values(
                heat=bindparam("heat"),
                heat_state=bindparam("heat_state"),
                # Flags only ever turn on; OR keeps one a person set while this batch was decided.
                acknowledged=or_(th.c.acknowledged, bindparam("acknowledged", type_=th.c.acknowledged.type)),
                moved_private=or_(
                    th.c.moved_private, bindparam("moved_private", type_=th.c.moved_private.type)
                ),
                last_message_at=bindparam("last_message_at"),
            ),
            [
                {
                    "tid": tid,
                    "heat": s.heat,
                    "heat_state": s.heat_state,
                    "acknowledged": s.acknowledged,
                    "moved_private": s.moved_private,
                    "last_message_at": s.last_message_at,
                }
                for tid, s in changed
            ],
        )
