"""Repository for SLA alerts in the team chat: reminders before a due or promised time, escalations after.

Subjects: a waiting review item with a due time that no person has replied to yet (a reply or a
move to private recorded by `storage.queue_actions`), and a promise whose conversation has no
waiting item (otherwise the item's alerts cover it). Each (subject, kind, chat) is alerted at
most once: the unique key makes queueing idempotent, and a row moves ``pending`` → ``sending``
(committed before the call) → ``posted``, so a crash never posts twice (``sending`` left over
becomes ``unknown``). An alert whose subject was answered before it went out becomes ``skipped``.
The functions here run inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, cast, literal, or_, select, union_all, update

from storage import tables as t
from storage.bulk import insert_ignoring_conflicts
from storage.promises import BROKEN, DEADLINE_ACTOR, PENDING

ITEM = "item"
PROMISE = "promise"
REMINDER = "reminder"
ESCALATION = "escalation"
SENDING = "sending"
POSTED = "posted"
FAILED = "failed"
UNKNOWN = "unknown"
SKIPPED = "skipped"
#: Queue actions that count as a person answering an item.
ANSWERS = ("queue.reply", "queue.move_private")
_WAITING = ("open", "claimed")


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as the sender sees it."""

    id: int
    subject: str
    subject_id: int
    kind: str
    chat_id: str
    deadline: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class PromiseCard:
    """What an alert about a promise shows (customer text still untrusted)."""

    promise_id: int
    status: str
    promised_at: datetime
    platform: str
    channel: str
    author_username: str | None
    author_display_name: str | None
    text: str


_ALERT_COLUMNS = (
    t.sla_alerts.c.id,
    t.sla_alerts.c.subject,
    t.sla_alerts.c.subject_id,
    t.sla_alerts.c.kind,
    t.sla_alerts.c.chat_id,
    t.sla_alerts.c.deadline,
    t.sla_alerts.c.attempts,
)


def _answered() -> Any:
    """SQL: a person has replied to (or moved private) the review item in the outer query."""
    r, a = t.review_items, t.audit_log
    return (
        select(a.c.id)
        .where(
            a.c.subject_type == "review_item",
            a.c.subject_id == cast(r.c.id, String),
            a.c.action.in_(ANSWERS),
            a.c.at >= r.c.created_at,
        )
        .exists()
    )


def _not_alerted(subject: str, subject_id: Any, kind: str, chat_id: str) -> Any:
    s = t.sla_alerts
    return ~(
        select(s.c.id)
        .where(s.c.subject == subject, s.c.subject_id == subject_id, s.c.kind == kind, s.c.chat_id == chat_id)
        .exists()
    )


def queue_sla_alerts(
    conn: Connection, chat_id: str, now: datetime, lead: timedelta, max_age: timedelta, limit: int = 50
) -> int:
    """Queue a reminder for every subject due within `lead` and an escalation for every one overdue.

    Escalations only for deadlines that passed within `max_age` (turning this on does not replay
    the backlog). Returns how many alerts were queued.
    """
    r, p = t.review_items, t.promises
    item_base = and_(r.c.status.in_(_WAITING), r.c.due_at.is_not(None), ~_answered())
    orphan = ~select(r.c.id).where(r.c.thread_id == p.c.thread_id, r.c.status.in_(_WAITING)).exists()
    overdue_promise = or_(p.c.status == PENDING, and_(p.c.status == BROKEN, p.c.settled_by == DEADLINE_ACTOR))
    selects = [
        select(
            literal(ITEM).label("subject"), r.c.id.label("sid"), literal(ESCALATION).label("kind"), r.c.due_at
        )
        .where(item_base, r.c.due_at <= now, r.c.due_at >= now - max_age)
        .where(_not_alerted(ITEM, r.c.id, ESCALATION, chat_id)),
        select(literal(PROMISE), p.c.id, literal(ESCALATION), p.c.promised_at)
        .where(overdue_promise, orphan, p.c.promised_at <= now, p.c.promised_at >= now - max_age)
        .where(_not_alerted(PROMISE, p.c.id, ESCALATION, chat_id)),
    ]
    if lead > timedelta(0):
        selects += [
            select(literal(ITEM), r.c.id, literal(REMINDER), r.c.due_at)
            .where(item_base, r.c.due_at > now, r.c.due_at <= now + lead)
            .where(_not_alerted(ITEM, r.c.id, REMINDER, chat_id)),
            select(literal(PROMISE), p.c.id, literal(REMINDER), p.c.promised_at)
            .where(p.c.status == PENDING, orphan, p.c.promised_at > now, p.c.promised_at <= now + lead)
            .where(_not_alerted(PROMISE, p.c.id, REMINDER, chat_id)),
        ]
    found = union_all(*selects).subquery()
    rows = conn.execute(select(found).order_by(found.c.due_at).limit(limit)).all()
    insert_ignoring_conflicts(
        conn,
        t.sla_alerts,
        [
            {
                "subject": subject,
                "subject_id": subject_id,
                "kind": kind,
                "chat_id": chat_id,
                "deadline": deadline,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for subject, subject_id, kind, deadline in rows
        ],
        ("subject", "subject_id", "kind", "chat_id"),
    )
    return len(rows)


def due_alerts(conn: Connection, now: datetime, limit: int = 20) -> list[AlertRow]:
    """Return pending alerts whose next attempt is due, oldest deadline first."""
    s = t.sla_alerts
    query = (
        select(*_ALERT_COLUMNS)
        .where(s.c.status == PENDING, s.c.next_attempt_at <= now)
        .order_by(s.c.deadline, s.c.id)
        .limit(limit)
    )
    return [AlertRow(**row._mapping) for row in conn.execute(query)]


def still_needed(conn: Connection, alert: AlertRow) -> bool:
    """Whether the alert's subject still waits for a person (not resolved, answered or settled)."""
    r, p = t.review_items, t.promises
    if alert.subject == ITEM:
        query = select(r.c.id).where(r.c.id == alert.subject_id, r.c.status.in_(_WAITING), ~_answered())
    else:
        allowed = (PENDING,) if alert.kind == REMINDER else (PENDING, BROKEN)
        query = select(p.c.id).where(
            p.c.id == alert.subject_id,
            p.c.status.in_(allowed),
            or_(p.c.settled_by.is_(None), p.c.settled_by == DEADLINE_ACTOR),
        )
    return conn.execute(query).first() is not None


def promise_card(conn: Connection, promise_id: int) -> PromiseCard | None:
    """What an alert shows about a promise, or None if it is gone."""
    p, m, a = t.promises, t.messages, t.authors
    row = conn.execute(
        select(
            p.c.id.label("promise_id"),
            p.c.status,
            p.c.promised_at,
            p.c.platform,
            p.c.channel,
            a.c.username.label("author_username"),
            a.c.display_name.label("author_display_name"),
            m.c.text,
        )
        .join(m, m.c.id == p.c.message_id)
        .join(a, a.c.id == m.c.author_id)
        .where(p.c.id == promise_id)
    ).first()
    return PromiseCard(**row._mapping) if row is not None else None


def mark_alert(conn: Connection, alert_id: int, from_status: str, **values: Any) -> bool:
    """Move an alert on from `from_status` (e.g. pending → sending); False if it was not in that status."""
    s = t.sla_alerts
    done = conn.execute(update(s).where(s.c.id == alert_id, s.c.status == from_status).values(**values))
    return done.rowcount == 1


def mark_alert_sending(conn: Connection, alert_id: int, now: datetime) -> bool:
    """Take a pending alert for sending (commit before the call); False if another sender took it."""
    s = t.sla_alerts
    return mark_alert(conn, alert_id, PENDING, status=SENDING, attempts=s.c.attempts + 1, next_attempt_at=now)


def mark_interrupted_alerts(conn: Connection) -> int:
    """Turn alerts a crash left in ``sending`` into ``unknown`` (never sent again); return how many."""
    s = t.sla_alerts
    result = conn.execute(
        update(s)
        .where(s.c.status == SENDING)
        .values(status=UNKNOWN, last_error="interrupted mid-send; it may be in the chat already")
    )
    return int(result.rowcount or 0)
