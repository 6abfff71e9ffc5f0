"""Repository for dashboard sessions, kept server-side so logging out or disabling a user ends them.

A session row is keyed by a keyed hash of the cookie's token (computed by the web layer), so
the table alone lets no one log in. A session counts only while it has not expired and its user
is enabled; the user's role is read at every request, so a role change applies at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from storage import tables as t
from storage.users import UserRecord, to_record, user_columns


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A live session and the user it belongs to."""

    session_id: str
    user: UserRecord
    expires_at: datetime


def create_session(
    conn: Connection, session_id: str, user_id: int, now: datetime, expires_at: datetime
) -> None:
    """Store a new session (dropping sessions that have expired meanwhile)."""
    purge_expired(conn, now)
    conn.execute(
        t.web_sessions.insert().values(id=session_id, user_id=user_id, created_at=now, expires_at=expires_at)
    )


def find_session(conn: Connection, session_id: str, now: datetime) -> SessionUser | None:
    """Return the session and its user, or None if it is unknown, expired or its user is disabled."""
    s, u = t.web_sessions, t.users
    row = conn.execute(
        select(*user_columns(), s.c.expires_at)
        .join(u, u.c.id == s.c.user_id)
        .where(s.c.id == session_id, s.c.expires_at > now, u.c.disabled.is_(False))
    ).first()
    if row is None:
        return None
    return SessionUser(session_id=session_id, user=to_record(row), expires_at=row.expires_at)


def delete_session(conn: Connection, session_id: str) -> bool:
    """End one session; False if it did not exist."""
    return bool(conn.execute(delete(t.web_sessions).where(t.web_sessions.c.id == session_id)).rowcount)


def revoke_user_sessions(conn: Connection, user_id: int) -> int:
    """End every session of a user; return how many."""
    return int(conn.execute(delete(t.web_sessions).where(t.web_sessions.c.user_id == user_id)).rowcount)


def purge_expired(conn: Connection, now: datetime) -> int:
    """Delete expired sessions; return how many."""
    return int(conn.execute(delete(t.web_sessions).where(t.web_sessions.c.expires_at <= now)).rowcount)
