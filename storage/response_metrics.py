"""Customer conversations and the brand's first responses, kept in `response_conversations`.

The rules (docs/stats.md): a customer message starts a new conversation of its (thread, author)
when there is none yet, when neither side wrote for `SILENCE` (24 hours, as Meta counts new
Messenger conversations), or, except on Messenger, when a person from the brand has answered the
current one. A brand response is an outbox send of kind public reply, direct message or private
reply that the platform confirmed: *human* when a person queued it (rule ``human``), *automated*
otherwise; it counts for the latest conversation of its thread and author that started at or
before it was sent. Only the first human and the first automated response are kept.

The processing stage only notes its customer messages in `metrics_inbox` (`note_customer_messages`,
one narrow insert per batch); `fold_pending` folds them in later (a scheduled job, and `catch_up`
before metrics are read), `record_response` runs in the outbox's "sent" transaction, `rebuild`
recomputes the whole table from messages and sends (after an upgrade, or to check).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, or_, select, update

from storage import tables as t
from storage.bulk import chunks, execute_many

SILENCE = timedelta(hours=24)
RESPONSE_KINDS = ("public_reply", "direct_message", "private_reply")
HUMAN_RULE_ID = "human"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(at: datetime) -> int:
    """Whole milliseconds since 1970-01-01 UTC."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def is_messenger(platform: str, channel: str) -> bool:
    """Facebook private messages: the channel whose conversations Meta counts for its badge."""
    return platform == "facebook" and channel == "direct"


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """A stored customer message, as the conversation rules need it."""

    id: int
    platform: str
    channel: str
    thread_id: int
    author_id: int
    created_at: datetime
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A confirmed brand send to a customer's thread."""

    thread_id: int
    author_id: int
    sent_at: datetime
    human: bool


@dataclass(slots=True)
class Conversation:
    """One row of `response_conversations` while it is being updated."""

    platform: str
    channel: str
    account_id: int | None
    thread_id: int
    author_id: int
    message_id: int
    started_at: datetime
    last_customer_at: datetime
    message_count: int = 1
    first_human_at: datetime | None = None
    first_automated_at: datetime | None = None
    last_response_at: datetime | None = None
    id: int | None = None
    changed: bool = True

    def last_activity(self) -> datetime:
        """When either side last wrote."""
        if self.last_response_at is not None and self.last_response_at > self.last_customer_at:
            return self.last_response_at
        return self.last_customer_at

    def starts_new(self, message: CustomerMessage) -> bool:
        """Whether `message` opens a new conversation instead of joining this one."""
        if message.created_at - self.last_activity() >= SILENCE:
            return True
        if is_messenger(self.platform, self.channel):
            return False
        return self.first_human_at is not None and self.first_human_at <= message.created_at

    def add_message(self, message: CustomerMessage) -> None:
        """Count a message that joins this conversation (one written before its start becomes the start)."""
        self.message_count += 1
        if message.created_at < self.started_at:
            self.started_at = message.created_at
            self.message_id = message.id
        if message.created_at > self.last_customer_at:
            self.last_customer_at = message.created_at
        self.changed = True

    def add_response(self, response: Response) -> None:
        """Record a brand response; only the earliest of each kind is kept."""
        if response.human:
            if self.first_human_at is None or response.sent_at < self.first_human_at:
                self.first_human_at = response.sent_at
        elif self.first_automated_at is None or response.sent_at < self.first_automated_at:
            self.first_automated_at = response.sent_at
        if self.last_response_at is None or response.sent_at > self.last_response_at:
            self.last_response_at = response.sent_at
        self.changed = True

    def row(self) -> dict[str, Any]:
        """The columns to write."""
        return {
            "platform": self.platform,
            "channel": self.channel,
            "account_id": self.account_id,
            "thread_id": self.thread_id,
            "author_id": self.author_id,
            "message_id": self.message_id,
            "started_at": self.started_at,
            "started_ms": epoch_ms(self.started_at),
            "last_customer_at": self.last_customer_at,
            "message_count": self.message_count,
            "first_human_at": self.first_human_at,
            "first_automated_at": self.first_automated_at,
            "last_response_at": self.last_response_at,
            "human_ms": _delay(self.started_at, self.first_human_at),
            "automated_ms": _delay(self.started_at, self.first_automated_at),
        }


def _delay(start: datetime, at: datetime | None) -> int | None:
    return None if at is None else max(0, epoch_ms(at) - epoch_ms(start))


def _new(message: CustomerMessage) -> Conversation:
    return Conversation(
        platform=message.platform,
        channel=message.channel,
        account_id=message.account_id,
        thread_id=message.thread_id,
        author_id=message.author_id,
        message_id=message.id,
        started_at=message.created_at,
        last_customer_at=message.created_at,
    )


def segment(
    messages: Iterable[CustomerMessage], responses: Iterable[Response], latest: Conversation | None = None
) -> list[Conversation]:
    """Apply one (thread, author)'s messages and responses in time order; return every conversation touched.

    `latest` is the key's current conversation, if any. At equal times a response comes first,
    so a customer message written the instant a person answered starts a new conversation.
    """
    events: list[tuple[datetime, int, CustomerMessage | Response]] = [
        (r.sent_at, 0, r) for r in responses
    ] + [(m.created_at, 1, m) for m in messages]
    events.sort(key=lambda e: (e[0], e[1]))
    touched: list[Conversation] = [latest] if latest is not None else []
    current = latest
    for _, _, event in events:
        if isinstance(event, Response):
            if current is not None and event.sent_at >= current.started_at:
                current.add_response(event)
            continue
        if current is None or current.starts_new(event):
            current = _new(event)
            touched.append(current)
        else:
            current.add_message(event)
    return [c for c in touched if c.changed]


def _customer_messages(conn: Connection, where: Any) -> list[CustomerMessage]:
    """Messages matching `where` that customers wrote (not the brand's accounts, not bots)."""
    m, a, acc = t.messages, t.authors, t.accounts
    ours = exists().where(and_(acc.c.platform == m.c.platform, acc.c.external_id == a.c.external_id))
    rows = conn.execute(
        select(m.c.id, m.c.platform, m.c.channel, m.c.thread_id, m.c.author_id, m.c.created_at, m.c.source)
        .join(a, a.c.id == m.c.author_id)
        .where(where, ~ours, a.c.is_bot.is_(False))
        .order_by(m.c.id)
    ).all()
    accounts = _accounts(conn)
    return [
        CustomerMessage(
            id=r.id,
            platform=r.platform,
            channel=r.channel,
            thread_id=r.thread_id,
            author_id=r.author_id,
            created_at=r.created_at,
            account_id=_account_of(accounts, r.platform, r.source),
        )
        for r in rows
    ]


def _accounts(conn: Connection) -> dict[str, dict[str, int]]:
    """The brand's accounts: platform -> external id -> account id."""
    found: dict[str, dict[str, int]] = {}
    for row in conn.execute(select(t.accounts.c.id, t.accounts.c.platform, t.accounts.c.external_id)):
        found.setdefault(row.platform, {})[row.external_id] = row.id
    return found


def _account_of(accounts: dict[str, dict[str, int]], platform: str, source: str) -> int | None:
    """The account a message came in through: the listener key's last part, else the platform's only account."""
    known = accounts.get(platform, {})
    account = known.get(source.rsplit(":", 1)[-1]) if source else None
    if account is None and len(known) == 1:
        account = next(iter(known.values()))
    return account


def _latest(
    conn: Connection, keys: Sequence[tuple[int, int]], since: datetime
) -> dict[tuple[int, int], Conversation]:
    """The latest conversation of each key that was active at or after `since` (an index range per thread)."""
    rc = t.response_conversations
    wanted = set(keys)
    found: dict[tuple[int, int], Conversation] = {}
    # By thread alone: an IN over both columns would probe every thread x author pair of the index.
    for part in chunks(sorted({thread for thread, _ in wanted})):
        rows = conn.execute(
            select(rc)
            .where(
                rc.c.thread_id.in_(part),
                or_(rc.c.last_customer_at >= since, rc.c.last_response_at >= since),
            )
            .order_by(rc.c.started_at, rc.c.id)
        ).all()
        for r in rows:
            if (r.thread_id, r.author_id) in wanted:
                found[(r.thread_id, r.author_id)] = _from_row(r._mapping)
    return found


def _from_row(row: Any) -> Conversation:
    return Conversation(
        id=row["id"],
        platform=row["platform"],
        channel=row["channel"],
        account_id=row["account_id"],
        thread_id=row["thread_id"],
        author_id=row["author_id"],
        message_id=row["message_id"],
        started_at=row["started_at"],
        last_customer_at=row["last_customer_at"],
        message_count=row["message_count"],
        first_human_at=row["first_human_at"],
        first_automated_at=row["first_automated_at"],
        last_response_at=row["last_response_at"],
        changed=False,
    )


def _write(conn: Connection, conversations: Sequence[Conversation]) -> None:
    rc = t.response_conversations
    inserts = [c.row() for c in conversations if c.id is None]
    updates = [{"cid": c.id, **c.row()} for c in conversations if c.id is not None]
    if inserts:
        execute_many(conn, rc.insert(), inserts)
    if updates:
        columns = list(updates[0].keys() - {"cid"})
        execute_many(
            conn,
            update(rc).where(rc.c.id == bindparam("cid")).values({c: bindparam(c) for c in columns}),
            updates,
        )


FOLD_CHUNK = 5000
_FOLD_LOCK = 0x7461637466756C  # PostgreSQL advisory lock serialising folds ("tactful")


def note_customer_messages(conn: Connection, message_ids: Sequence[int]) -> None:
    """Note processed customer messages for folding later (the processing stage's only metrics write)."""
    if message_ids:
        execute_many(conn, t.metrics_inbox.insert(), [{"message_id": mid} for mid in message_ids])


def fold_pending(conn: Connection, limit: int = FOLD_CHUNK) -> int:
    """Fold up to `limit` noted messages, oldest first, into their conversations; return how many were taken.

    The noted rows are taken by a DELETE ... RETURNING, which also takes SQLite's write lock, and
    on PostgreSQL folds are serialised by an advisory lock, so two processes folding at once never
    count a message twice or overwrite each other's conversations. Sends confirmed before their
    message was folded are applied again (a conversation keeps the earliest response of each kind,
    so applying one twice changes nothing).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_FOLD_LOCK)))
    inbox = t.metrics_inbox
    oldest = select(inbox.c.message_id).order_by(inbox.c.message_id).limit(limit).scalar_subquery()
    taken = list(
        conn.execute(
            inbox.delete().where(inbox.c.message_id.in_(oldest)).returning(inbox.c.message_id)
        ).scalars()
    )
    if not taken:
        return 0
    messages: list[CustomerMessage] = []
    for part in chunks(sorted(taken)):
        messages.extend(_customer_messages(conn, t.messages.c.id.in_(part)))
    if messages:
        o = t.outbox
        since = min(m.created_at for m in messages)
        responses: dict[tuple[int, int], list[Response]] = {}
        for part in chunks(sorted({m.thread_id for m in messages})):
            for key, found in _responses(conn, and_(o.c.thread_id.in_(part), o.c.sent_at >= since)).items():
                responses.setdefault(key, []).extend(found)
        _fold(conn, messages, responses)
    return len(taken)


def catch_up(db: Engine) -> int:
    """Fold every noted message (before reading metrics); return how many."""
    total = 0
    while True:
        with db.begin() as conn:
            taken = fold_pending(conn)
        total += taken
        if taken < FOLD_CHUNK:
            return total


def record_customer_messages(conn: Connection, message_ids: Sequence[int]) -> int:
    """Fold stored messages' customer messages into their conversations; return how many rows changed."""
    messages: list[CustomerMessage] = []
    for part in chunks(list(message_ids)):
        messages.extend(_customer_messages(conn, t.messages.c.id.in_(part)))
    return _fold(conn, messages)


def _fold(
    conn: Connection,
    messages: list[CustomerMessage],
    responses: dict[tuple[int, int], list[Response]] | None = None,
) -> int:
    """Apply customer messages (and sends to their keys) to their keys' latest conversations; write what changed."""
    if not messages:
        return 0
    by_key: dict[tuple[int, int], list[CustomerMessage]] = {}
    for message in messages:
        by_key.setdefault((message.thread_id, message.author_id), []).append(message)
    since = min(m.created_at for m in messages) - SILENCE
    latest = _latest(conn, list(by_key), since)
    changed: list[Conversation] = []
    for key, group in by_key.items():
        changed.extend(segment(group, responses.get(key, ()) if responses else (), latest.get(key)))
    _write(conn, changed)
    return len(changed)


def record_response(conn: Connection, outbox_id: int, sent_at: datetime) -> bool:
    """Count a confirmed send as a first response of its conversation, if it is one; True if it counted."""
    o, rc = t.outbox, t.response_conversations
    send = conn.execute(
        select(o.c.thread_id, o.c.author_id, o.c.kind, o.c.rule_id).where(o.c.id == outbox_id)
    ).first()
    if send is None or send.kind not in RESPONSE_KINDS:
        return False
    row = conn.execute(
        select(rc)
        .where(rc.c.thread_id == send.thread_id, rc.c.author_id == send.author_id, rc.c.started_at <= sent_at)
        .order_by(rc.c.started_at.desc(), rc.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return False
    conversation = _from_row(row._mapping)
    conversation.add_response(
        Response(send.thread_id, send.author_id, sent_at, human=send.rule_id == HUMAN_RULE_ID)
    )
    _write(conn, [conversation])
    return True


def _responses(conn: Connection, where: Any) -> dict[tuple[int, int], list[Response]]:
    o = t.outbox
    found: dict[tuple[int, int], list[Response]] = {}
    rows = conn.execute(
        select(o.c.thread_id, o.c.author_id, o.c.sent_at, o.c.rule_id).where(
            where, o.c.status == "sent", o.c.kind.in_(RESPONSE_KINDS), o.c.sent_at.is_not(None)
        )
    )
    for r in rows:
        found.setdefault((r.thread_id, r.author_id), []).append(
            Response(r.thread_id, r.author_id, r.sent_at, human=r.rule_id == HUMAN_RULE_ID)
        )
    return found


def rebuild(conn: Connection, threads_at_once: int = 20_000) -> int:
    """Recompute every conversation from the processed messages and confirmed sends; return how many.

    Threads are taken `threads_at_once` ids at a time, so memory stays bounded on a big history.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_FOLD_LOCK)))
    conn.execute(t.metrics_inbox.delete())  # the rebuild covers every processed message
    conn.execute(t.response_conversations.delete())
    last_thread = conn.execute(select(func.max(t.threads.c.id))).scalar() or 0
    count = 0
    for low in range(0, last_thread + 1, threads_at_once):
        high = low + threads_at_once
        m, o = t.messages, t.outbox
        responses = _responses(conn, and_(o.c.thread_id >= low, o.c.thread_id < high))
        by_key: dict[tuple[int, int], list[CustomerMessage]] = {}
        in_range = and_(m.c.thread_id >= low, m.c.thread_id < high, m.c.status == "processed")
        for message in _customer_messages(conn, in_range):
            by_key.setdefault((message.thread_id, message.author_id), []).append(message)
        conversations: list[Conversation] = []
        for key, group in by_key.items():
            conversations.extend(segment(group, responses.get(key, ())))
        for part in chunks(conversations, 5000):
            _write(conn, part)
        count += len(conversations)
    return count
