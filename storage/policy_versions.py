"""Repository for policy versions: the ones put in force and the changed files that were rejected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from storage import tables as t
from storage.bulk import insert_ignoring_conflicts

ACTIVE = "active"
REJECTED = "rejected"

#: Longest error text kept for a rejected file (the full list is in the service log).
MAX_ERRORS_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class PolicyVersionFacts:
    """What is known about one policy version: its hash, where it came from and who wrote it."""

    version: str
    path: str
    content_hash: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyVersionRow:
    """A stored policy version or rejection, as listed for people."""

    version: str
    path: str
    status: str
    loaded_at: datetime
    activated_at: datetime | None
    content_hash: str | None
    author: str | None
    errors: str | None


def _insert(
    conn: Connection, facts: PolicyVersionFacts, now: datetime, status: str, errors: str | None
) -> None:
    row = {
        "version": facts.version,
        "path": facts.path[:512],
        "loaded_at": now,
        "content_hash": facts.content_hash,
        "author": facts.author[:128] if facts.author else None,
        "status": status,
        "errors": errors[:MAX_ERRORS_CHARS] if errors is not None else None,
        "activated_at": now if status == ACTIVE else None,
    }
    insert_ignoring_conflicts(conn, t.policy_versions, [row], ("version",))


def record_used(conn: Connection, facts: PolicyVersionFacts, now: datetime) -> None:
    """Remember a version the first time decisions cite it (no change when it is already stored)."""
    _insert(conn, facts, now, ACTIVE, None)


def record_activated(conn: Connection, facts: PolicyVersionFacts, now: datetime) -> None:
    """Record that a version was put in force now (again, after a revert: `activated_at` moves on)."""
    _insert(conn, facts, now, ACTIVE, None)
    p = t.policy_versions
    # A version rejected by an older tactful's checks (they can change between releases) runs now.
    conn.execute(
        update(p).where(p.c.version == facts.version).values(status=ACTIVE, errors=None, activated_at=now)
    )


def record_rejected(conn: Connection, facts: PolicyVersionFacts, errors: str, now: datetime) -> None:
    """Record changed policy contents that failed the check, with the error lines."""
    _insert(conn, facts, now, REJECTED, errors)


def _select() -> Any:
    p = t.policy_versions
    return select(
        p.c.version,
        p.c.path,
        p.c.status,
        p.c.loaded_at,
        p.c.activated_at,
        p.c.content_hash,
        p.c.author,
        p.c.errors,
    )


def _row(row: Any) -> PolicyVersionRow:
    return PolicyVersionRow(**dict(row._mapping))


def list_versions(conn: Connection, limit: int = 50) -> list[PolicyVersionRow]:
    """Return the latest stored versions and rejections, newest first."""
    p = t.policy_versions
    rows = conn.execute(_select().order_by(p.c.loaded_at.desc(), p.c.id.desc()).limit(limit))
    return [_row(row) for row in rows]


def version_in_force(conn: Connection) -> PolicyVersionRow | None:
    """Return the version in force: the active one put in force last (None before any was recorded)."""
    p = t.policy_versions
    query = (
        _select()
        .where(p.c.status == ACTIVE, p.c.activated_at.is_not(None))
        .order_by(p.c.activated_at.desc(), p.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _row(row)


def latest_rejection(conn: Connection) -> PolicyVersionRow | None:
    """Return the changed contents rejected last, with their errors (None when none ever were)."""
    p = t.policy_versions
    query = _select().where(p.c.status == REJECTED).order_by(p.c.loaded_at.desc(), p.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else _row(row)
