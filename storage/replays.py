"""Repository for policy replays: stream stored history with its verdicts and decisions, keep the reports.

Nothing here writes to messages, threads, the outbox or the queue: a replay only reads them and
adds one row to ``policy_replays``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, desc, not_, or_, select

from storage import tables as t
from storage.bulk import chunks
from storage.work import PendingMessage

#: Rows read per query while streaming history.
STREAM_CHUNK = 2000
#: Outbox keys: automation's `<platform>:<external id>:ack|private`, people's `human:reply|private:…`.
_HUMAN_REPLY, _HUMAN_MOVE = "human:reply:%", "human:private:%"
#: Columns of `_stream_query` that make a PendingMessage (its fields up to `private_link_token`).
_MESSAGE_FIELDS = 17


@dataclass(slots=True)
class StoredRow:
    """One processed message (with its author and thread) and its stored verdict and decision."""

    message: PendingMessage
    category: str
    sentiment: str
    sentiment_score: float
    toxicity: float
    complaint: float
    language: str
    confidence: float
    explanation: str
    keywords: list[str]
    signals: dict[str, float]
    model: str
    rule_id: str
    actions: list[dict[str, Any]]
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class HumanSend:
    """A reply or move to private a person queued from the dashboard or the team chat."""

    at: datetime
    thread_id: int
    author_id: int
    moved_private: bool  # else a reply, which acknowledges the thread


def _stream_query() -> Any:
    m, a, th, v, d = t.messages, t.authors, t.threads, t.verdicts, t.decisions
    return (
        select(
            m.c.id,
            m.c.platform,
            m.c.channel,
            m.c.external_id,
            m.c.thread_id,
            th.c.external_id,
            m.c.author_id,
            a.c.external_id,
            a.c.username,
            a.c.display_name,
            a.c.is_bot,
            m.c.text,
            m.c.created_at,
            m.c.in_reply_to_external_id,
            m.c.language_hint,
            m.c.is_private,
            m.c.private_link_token,
            v.c.category,
            v.c.sentiment,
            v.c.sentiment_score,
            v.c.toxicity,
            v.c.complaint,
            v.c.language,
            v.c.confidence,
            v.c.explanation,
            v.c.keywords,
            v.c.signals,
            v.c.model,
            d.c.rule_id,
            d.c.actions,
            d.c.created_at,
        )
        .select_from(m)
        .join(v, v.c.message_id == m.c.id)
        .join(d, d.c.message_id == m.c.id)
        .join(a, a.c.id == m.c.author_id)
        .join(th, th.c.id == m.c.thread_id)
    )


def stream_history(
    conn: Connection, start: datetime | None, chunk: int = STREAM_CHUNK
) -> Iterator[list[StoredRow]]:
    """Yield processed messages created from `start` on (all when None) in id order, `chunk` rows per query."""
    m = t.messages
    base = _stream_query()
    after = 0
    while True:
        condition = m.c.id > after
        if start is not None:
            condition = and_(condition, m.c.created_at >= start)
        rows: list[Any] = list(conn.execute(base.where(condition).order_by(m.c.id).limit(chunk)).all())
        if not rows:
            return
        yield [StoredRow(PendingMessage(*row[:_MESSAGE_FIELDS]), *row[_MESSAGE_FIELDS:]) for row in rows]
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def human_sends(conn: Connection, start: datetime | None) -> list[HumanSend]:
    """People's replies and moves to private queued from `start` on (all when None), oldest first."""
    o = t.outbox
    condition = or_(o.c.idempotency_key.like(_HUMAN_REPLY), o.c.idempotency_key.like(_HUMAN_MOVE))
    if start is not None:
        condition = and_(condition, o.c.created_at >= start)
    query = (
        select(o.c.created_at, o.c.thread_id, o.c.author_id, o.c.idempotency_key)
        .where(condition)
        .order_by(o.c.created_at, o.c.id)
    )
    return [
        HumanSend(at, thread_id, author_id, key.startswith("human:private:"))
        for at, thread_id, author_id, key in conn.execute(query).all()
    ]


def earlier_thread_flags(
    conn: Connection, thread_ids: Iterable[int], start: datetime
) -> dict[int, tuple[bool, bool]]:
    """(acknowledged, moved private) of threads from sends before `start`: automation's for messages
    created before it, people's queued before it."""
    o, m = t.outbox, t.messages
    human = or_(o.c.idempotency_key.like(_HUMAN_REPLY), o.c.idempotency_key.like(_HUMAN_MOVE))
    automated = and_(
        not_(o.c.idempotency_key.like("human:%")),
        or_(o.c.idempotency_key.like("%:ack"), o.c.idempotency_key.like("%:private")),
    )
    earlier = or_(and_(automated, m.c.created_at < start), and_(human, o.c.created_at < start))
    flags: dict[int, tuple[bool, bool]] = {}
    for part in chunks(sorted(set(thread_ids))):
        query = (
            select(m.c.thread_id, o.c.idempotency_key)
            .select_from(o)
            .join(m, m.c.id == o.c.message_id)
            .where(and_(m.c.thread_id.in_(part), earlier))
        )
        for thread_id, key in conn.execute(query).all():
            moved = key.endswith(":private") or key.startswith("human:private:")
            acknowledged, moved_private = flags.get(thread_id, (False, False))
            flags[thread_id] = (acknowledged or not moved, moved_private or moved)
    return flags


def save_replay(
    engine: Engine,
    *,
    now: datetime,
    policy_version: str,
    source: str,
    since: datetime | None,
    summary: dict[str, Any],
    actor: str,
) -> int:
    """Store one replay's report; return its id."""
    r = t.policy_replays
    with engine.begin() as conn:
        result = conn.execute(
            r.insert().values(
                created_at=now,
                policy_version=policy_version,
                source=source,
                since=since,
                summary=summary,
                actor=actor,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """A stored replay report."""

    id: int
    created_at: datetime
    policy_version: str
    source: str
    since: datetime | None
    summary: dict[str, Any]
    actor: str


def recent_replays(conn: Connection, limit: int = 20) -> list[ReplayRecord]:
    """The latest stored replays, newest first."""
    r = t.policy_replays
    query = select(*r.c).order_by(desc(r.c.created_at), desc(r.c.id)).limit(limit)
    return [ReplayRecord(*row) for row in conn.execute(query).all()]


def get_replay(conn: Connection, replay_id: int) -> ReplayRecord | None:
    """One stored replay, or None."""
    r = t.policy_replays
    row = conn.execute(select(*r.c).where(r.c.id == replay_id)).first()
    return None if row is None else ReplayRecord(*row)
