"""Read models of the review queue for people: filtered lists, counters, a whole item, author history, reports.

The dashboard renders these and the team chat can summarise them; nothing here writes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, desc, func, or_, select

from storage import tables as t
from tactful.domain import Platform

STATUS_FILTERS = ("waiting", "open", "claimed", "resolved", "all")
NO_ASSIGNEE = "-"  # the assignee filter for items nobody holds
DUE_SOON = timedelta(minutes=30)
_STATUSES = {
    "waiting": ("open", "claimed"),
    "open": ("open",),
    "claimed": ("claimed",),
    "resolved": ("resolved",),
    "all": None,
}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which items to list; None means any. `status` is one of STATUS_FILTERS."""

    platform: str | None = None
    category: str | None = None
    language: str | None = None
    status: str = "waiting"
    assignee: str | None = None  # a user name, or NO_ASSIGNEE


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One review item as a queue row."""

    id: int
    status: str
    priority: int
    platform: str
    category: str | None
    language: str | None
    author: str | None
    text: str
    reason: str
    assignee: str | None
    message_count: int
    created_at: datetime
    due_at: datetime | None

    @property
    def first_line(self) -> str:
        """The text's first non-blank line."""
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")


@dataclass(frozen=True, slots=True)
class QueueCounters:
    """How much waits: open and claimed items, and waiting items due within 30 minutes (or overdue)."""

    open: int
    claimed: int
    due_soon: int


def list_items(conn: Connection, where: QueueFilter, limit: int = 200) -> list[QueueRow]:
    """Return review items by priority (highest first), then due time (none last), then age (oldest first).

    The page of item ids is chosen first from the review items alone (joined to verdicts only to
    filter by category or language), and only those rows are joined to their message and author:
    with ten thousand items waiting this is several times faster than sorting the full join.
    """
    r, m, a, v = t.review_items, t.messages, t.authors, t.verdicts
    order = (desc(r.c.priority), r.c.due_at.is_(None), r.c.due_at, r.c.created_at, r.c.id)
    page = select(r.c.id)
    statuses = _STATUSES.get(where.status, ("open", "claimed"))
    if statuses is not None:
        page = page.where(r.c.status.in_(statuses))
    if where.platform:
        page = page.where(r.c.platform == where.platform)
    if where.assignee == NO_ASSIGNEE:
        page = page.where(r.c.assignee.is_(None))
    elif where.assignee:
        page = page.where(r.c.assignee == where.assignee)
    if where.category or where.language:
        page = page.join(v, v.c.message_id == r.c.message_id)
        if where.category:
            page = page.where(v.c.category == where.category)
        if where.language:
            page = page.where(v.c.language == where.language)
    chosen = page.order_by(*order).limit(limit).subquery()
    query = (
        select(
            r.c.id,
            r.c.status,
            r.c.priority,
            r.c.platform,
            v.c.category,
            v.c.language,
            func.coalesce(a.c.username, a.c.display_name).label("author"),
            m.c.text,
            r.c.reason,
            r.c.assignee,
            r.c.message_count,
            r.c.created_at,
            r.c.due_at,
        )
        .select_from(chosen)
        .join(r, r.c.id == chosen.c.id)
        .join(m, m.c.id == r.c.message_id)
        .join(a, a.c.id == m.c.author_id)
        .outerjoin(v, v.c.message_id == m.c.id)
        .order_by(*order)
    )
    return [QueueRow(**row._mapping) for row in conn.execute(query)]


def queue_counters(conn: Connection, now: datetime, due_within: timedelta = DUE_SOON) -> QueueCounters:
    """Count open and claimed items, and waiting items whose due time is within `due_within` of now."""
    r = t.review_items
    by_status: dict[str, int] = dict(
        conn.execute(
            select(r.c.status, func.count()).where(r.c.status.in_(("open", "claimed"))).group_by(r.c.status)
        ).all()
    )
    due = conn.execute(
        select(func.count()).where(
            r.c.status.in_(("open", "claimed")), r.c.due_at.is_not(None), r.c.due_at <= now + due_within
        )
    ).scalar_one()
    return QueueCounters(open=by_status.get("open", 0), claimed=by_status.get("claimed", 0), due_soon=due)


def known_languages(conn: Connection) -> list[str]:
    """Return the languages of review items' messages, sorted (the language filter's choices)."""
    r, v = t.review_items, t.verdicts
    return sorted(
        conn.execute(select(v.c.language).join(r, r.c.message_id == v.c.message_id).distinct()).scalars()
    )


def known_assignees(conn: Connection) -> list[str]:
    """Return every user and whoever holds a waiting item, sorted (the owner filter's choices)."""
    r, u = t.review_items, t.users
    held = conn.execute(
        select(r.c.assignee).where(r.c.status.in_(("open", "claimed")), r.c.assignee.is_not(None)).distinct()
    )
    return sorted(set(held.scalars()) | set(conn.execute(select(u.c.name)).scalars()))


# --- one item ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerdictView:
    """What moderation concluded about a message."""

    category: str
    sentiment: str
    toxicity: float
    complaint: float
    language: str
    confidence: float
    explanation: str


@dataclass(frozen=True, slots=True)
class DecisionView:
    """What the policy decided for a message."""

    rule_id: str
    policy_version: str
    actions: list[dict[str, Any]]
    explanation: str


@dataclass(frozen=True, slots=True)
class OutboxView:
    """What was queued to be sent for a message, and how it went."""

    id: int
    kind: str
    text: str | None
    rule_id: str
    policy_version: str
    status: str
    platform_ref: str | None
    kind_used: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of an item's conversation with everything decided and done about it."""

    id: int
    platform: str
    channel: str
    external_id: str
    thread_external_id: str
    author: str
    author_external_id: str
    from_brand: bool
    is_private: bool
    text: str
    created_at: datetime
    verdict: VerdictView | None
    decision: DecisionView | None
    outbox: list[OutboxView] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # task -> label


@dataclass(frozen=True, slots=True)
class RecentMessage:
    """A message an author wrote in another conversation."""

    id: int
    platform: str
    text: str
    created_at: datetime
    category: str | None
    item_id: int | None  # its conversation's latest review item, if any


@dataclass(frozen=True, slots=True)
class AuthorView:
    """The author of an item's message and their history."""

    id: int
    platform: str
    external_id: str
    username: str | None
    display_name: str | None
    first_seen_at: datetime
    messages_processed: int
    troll_verdicts: int
    first_message_at: datetime | None
    last_troll_at: datetime | None
    recent_elsewhere: list[RecentMessage]


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit entry about the item or its messages."""

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemDetail:
    """A review item with its whole conversation, its author's history and its audit trail."""

    id: int
    status: str
    priority: int
    reason: str
    platform: str
    assignee: str | None
    message_id: int
    message_count: int
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    thread_id: int
    thread_external_id: str
    channel: str
    heat: float
    acknowledged: bool
    moved_private: bool
    messages: list[ThreadMessage]
    author: AuthorView | None
    audit: list[AuditView]

    @property
    def latest_customer_message(self) -> ThreadMessage | None:
        """The message a reply answers by default."""
        return next((msg for msg in reversed(self.messages) if not msg.from_brand), None)


def item_detail(
    conn: Connection, item_id: int, max_messages: int = 300, recent: int = 10
) -> ItemDetail | None:
    """Return a review item with its conversation in order (its thread and threads linked to it), or None."""
    r, th = t.review_items, t.threads
    item = conn.execute(
        select(
            r,
            th.c.external_id.label("thread_external_id"),
            th.c.channel,
            th.c.heat,
            th.c.acknowledged,
            th.c.moved_private,
        )
        .join(th, th.c.id == r.c.thread_id)
        .where(r.c.id == item_id)
    ).first()
    if item is None:
        return None
    messages = _conversation(conn, item.thread_id, max_messages)
    return ItemDetail(
        id=item.id,
        status=item.status,
        priority=item.priority,
        reason=item.reason,
        platform=item.platform,
        assignee=item.assignee,
        message_id=item.message_id,
        message_count=item.message_count,
        created_at=item.created_at,
        updated_at=item.updated_at,
        due_at=item.due_at,
        resolved_at=item.resolved_at,
        resolved_by=item.resolved_by,
        resolution_note=item.resolution_note,
        thread_id=item.thread_id,
        thread_external_id=item.thread_external_id,
        channel=item.channel,
        heat=item.heat,
        acknowledged=bool(item.acknowledged),
        moved_private=bool(item.moved_private),
        messages=messages,
        author=author_view(conn, item.message_id, recent),
        audit=_audit(conn, item.id, [msg.id for msg in messages]),
    )


def _conversation(conn: Connection, thread_id: int, limit: int) -> list[ThreadMessage]:
    m, th, a, acc = t.messages, t.threads, t.authors, t.accounts
    rows = list(
        conn.execute(
            select(
                m.c.id,
                m.c.platform,
                m.c.channel,
                m.c.external_id,
                th.c.external_id.label("thread_external_id"),
                func.coalesce(a.c.username, a.c.display_name, a.c.external_id).label("author"),
                a.c.external_id.label("author_external_id"),
                acc.c.id.label("account_id"),
                m.c.is_private,
                m.c.text,
                m.c.created_at,
            )
            .join(th, th.c.id == m.c.thread_id)
            .join(a, a.c.id == m.c.author_id)
            .outerjoin(acc, and_(acc.c.platform == m.c.platform, acc.c.external_id == a.c.external_id))
            .where(or_(m.c.thread_id == thread_id, th.c.linked_thread_id == thread_id))
            .order_by(m.c.created_at.desc(), m.c.id.desc())
            .limit(limit)
        )
    )
    rows.reverse()
    ids = [row.id for row in rows]
    verdicts, decisions, outbox = _verdicts(conn, ids), _decisions(conn, ids), _outbox(conn, ids)
    labels: dict[int, dict[str, str]] = {}
    hl = t.human_labels
    for label in conn.execute(select(hl.c.message_id, hl.c.task, hl.c.label).where(hl.c.message_id.in_(ids))):
        labels.setdefault(label.message_id, {})[label.task] = label.label
    return [
        ThreadMessage(
            id=row.id,
            platform=row.platform,
            channel=row.channel,
            external_id=row.external_id,
            thread_external_id=row.thread_external_id,
            author=row.author,
            author_external_id=row.author_external_id,
            from_brand=row.account_id is not None,
            is_private=bool(row.is_private),
            text=row.text,
            created_at=row.created_at,
            verdict=verdicts.get(row.id),
            decision=decisions.get(row.id),
            outbox=outbox.get(row.id, []),
            labels=labels.get(row.id, {}),
        )
        for row in rows
    ]


def _without(row: Any, name: str) -> dict[str, Any]:
    return {key: value for key, value in row._mapping.items() if key != name}


def _verdicts(conn: Connection, ids: list[int]) -> dict[int, VerdictView]:
    v = t.verdicts
    rows = conn.execute(
        select(
            v.c.message_id,
            v.c.category,
            v.c.sentiment,
            v.c.toxicity,
            v.c.complaint,
            v.c.language,
            v.c.confidence,
            v.c.explanation,
        ).where(v.c.message_id.in_(ids))
    )
    return {row.message_id: VerdictView(**_without(row, "message_id")) for row in rows}


def _decisions(conn: Connection, ids: list[int]) -> dict[int, DecisionView]:
    d = t.decisions
    rows = conn.execute(
        select(d.c.message_id, d.c.rule_id, d.c.policy_version, d.c.actions, d.c.explanation).where(
            d.c.message_id.in_(ids)
        )
    )
    return {row.message_id: DecisionView(**_without(row, "message_id")) for row in rows}


def _outbox(conn: Connection, ids: list[int]) -> dict[int, list[OutboxView]]:
    o = t.outbox
    found: dict[int, list[OutboxView]] = {}
    rows = conn.execute(
        select(
            o.c.message_id,
            o.c.id,
            o.c.kind,
            o.c.text,
            o.c.rule_id,
            o.c.policy_version,
            o.c.status,
            o.c.platform_ref,
            o.c.kind_used,
            o.c.last_error,
            o.c.created_at,
            o.c.sent_at,
        )
        .where(o.c.message_id.in_(ids))
        .order_by(o.c.id)
    )
    for row in rows:
        found.setdefault(row.message_id, []).append(OutboxView(**_without(row, "message_id")))
    return found


def author_view(conn: Connection, message_id: int, recent: int = 10) -> AuthorView | None:
    """Return the history of a message's author, with their latest messages in other conversations."""
    m, a, v, r = t.messages, t.authors, t.verdicts, t.review_items
    author = conn.execute(
        select(a, m.c.thread_id.label("message_thread_id"))
        .join(m, m.c.author_id == a.c.id)
        .where(m.c.id == message_id)
    ).first()
    if author is None:
        return None
    latest_item = (
        select(func.max(r.c.id)).where(r.c.thread_id == m.c.thread_id).correlate(m).scalar_subquery()
    )
    elsewhere = conn.execute(
        select(m.c.id, m.c.platform, m.c.text, m.c.created_at, v.c.category, latest_item.label("item_id"))
        .outerjoin(v, v.c.message_id == m.c.id)
        .where(m.c.author_id == author.id, m.c.thread_id != author.message_thread_id)
        .order_by(m.c.created_at.desc(), m.c.id.desc())
        .limit(recent)
    )
    return AuthorView(
        id=author.id,
        platform=author.platform,
        external_id=author.external_id,
        username=author.username,
        display_name=author.display_name,
        first_seen_at=author.first_seen_at,
        messages_processed=author.messages_processed,
        troll_verdicts=author.troll_verdicts,
        first_message_at=author.first_message_at,
        last_troll_at=author.last_troll_at,
        recent_elsewhere=[RecentMessage(**row._mapping) for row in elsewhere],
    )


def _audit(conn: Connection, item_id: int, message_ids: list[int], limit: int = 50) -> list[AuditView]:
    al = t.audit_log
    about = or_(
        and_(al.c.subject_type == "review_item", al.c.subject_id == str(item_id)),
        and_(al.c.subject_type == "message", al.c.subject_id.in_([str(i) for i in message_ids])),
    )
    rows = conn.execute(
        select(al.c.at, al.c.actor, al.c.action, al.c.subject_type, al.c.subject_id, al.c.detail)
        .where(about)
        .order_by(al.c.id.desc())
        .limit(limit)
    )
    return [AuditView(**row._mapping) for row in rows]


# --- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """Counts since a moment, each keyed by (platform, value)."""

    since: datetime
    messages_by_category: Counter[tuple[str, str]]
    items_by_status: Counter[tuple[str, str]]
    outbox_by_status: Counter[tuple[str, str]]

    @property
    def platforms(self) -> list[str]:
        """Every platform, in the usual order."""
        return [p.value for p in Platform]


def report(conn: Connection, since: datetime) -> Report:
    """Count messages received by category, review items opened by status and sends by status since `since`."""
    m, v, r, o = t.messages, t.verdicts, t.review_items, t.outbox
    category = func.coalesce(v.c.category, "unprocessed")
    messages = conn.execute(
        select(m.c.platform, category, func.count())
        .outerjoin(v, v.c.message_id == m.c.id)
        .where(m.c.received_at >= since)
        .group_by(m.c.platform, category)
    )
    items = conn.execute(
        select(r.c.platform, r.c.status, func.count())
        .where(r.c.created_at >= since)
        .group_by(r.c.platform, r.c.status)
    )
    sends = conn.execute(
        select(o.c.platform, o.c.status, func.count())
        .where(o.c.created_at >= since)
        .group_by(o.c.platform, o.c.status)
    )
    return Report(
        since=since,
        messages_by_category=Counter({(p, c): n for p, c, n in messages}),
        items_by_status=Counter({(p, s): n for p, s, n in items}),
        outbox_by_status=Counter({(p, s): n for p, s, n in sends}),
    )
