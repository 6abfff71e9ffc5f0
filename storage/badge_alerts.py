"""Repository for badge alerts: queued once per chat, badge, level and UTC day, then posted at most once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select, update

from storage import tables as t
from storage.bulk import insert_ignoring_conflicts

PENDING, SENDING, POSTED, UNKNOWN, FAILED = "pending", "sending", "posted", "unknown", "failed"


@dataclass(frozen=True, slots=True)
class AlertRow:
    """A queued alert, as the dispatcher sees it."""

    id: int
    chat_id: str
    text: str
    attempts: int


def queue_alert(
    conn: Connection, chat_id: str, badge: str, level: str, day: str, text: str, now: datetime
) -> bool:
    """Queue an alert unless this chat already has one for the badge, level and day; True if queued."""
    a = t.badge_alerts
    before = conn.execute(
        select(a.c.id).where(a.c.chat_id == chat_id, a.c.badge == badge, a.c.level == level, a.c.day == day)
    ).first()
    if before is not None:
        return False
    insert_ignoring_conflicts(
        conn,
        a,
        [
            {
                "chat_id": chat_id,
                "badge": badge,
                "level": level,
                "day": day,
                "text": text,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
            }
        ],
        ("chat_id", "badge", "level", "day"),
    )
    return True


def pending_alerts(conn: Connection, limit: int = 20) -> list[AlertRow]:
    """Alerts waiting to be posted, oldest first."""
    a = t.badge_alerts
    rows = conn.execute(
        select(a.c.id, a.c.chat_id, a.c.text, a.c.attempts)
        .where(a.c.status == PENDING)
        .order_by(a.c.id)
        .limit(limit)
    ).all()
    return [AlertRow(r.id, r.chat_id, r.text, r.attempts) for r in rows]


def mark_sending(conn: Connection, alert_id: int) -> bool:
    """Move an alert from pending to sending (committed before the call); False if it was taken."""
    a = t.badge_alerts
    result = conn.execute(
        update(a)
        .where(and_(a.c.id == alert_id, a.c.status == PENDING))
        .values(status=SENDING, attempts=a.c.attempts + 1)
    )
    return result.rowcount == 1


def mark_posted(conn: Connection, alert_id: int, ref: str, now: datetime) -> None:
    """Record the posted message."""
    conn.execute(
        update(t.badge_alerts)
        .where(t.badge_alerts.c.id == alert_id)
        .values(status=POSTED, message_ref=ref, posted_at=now, last_error=None)
    )


def mark_retry(conn: Connection, alert_id: int, error: str, give_up: bool) -> None:
    """Put an alert back for the next pass, or give it up."""
    conn.execute(
        update(t.badge_alerts)
        .where(t.badge_alerts.c.id == alert_id)
        .values(status=FAILED if give_up else PENDING, last_error=error[:2000])
    )


def mark_interrupted(conn: Connection) -> int:
    """Alerts a crash left in ``sending`` become ``unknown`` (never posted again); return how many."""
    a = t.badge_alerts
    return conn.execute(update(a).where(a.c.status == SENDING).values(status=UNKNOWN)).rowcount
