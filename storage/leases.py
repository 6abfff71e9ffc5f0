"""Leases: named pieces of work one process does at a time, taken over when their holder stops renewing.

Each operation is one atomic statement that behaves the same on SQLite and PostgreSQL: taking a
lease is an insert that, on a name already present, updates the row only where the lease expired
or is already held by the caller (``INSERT … ON CONFLICT (name) DO UPDATE … WHERE …
RETURNING name``), so of two processes racing for a free lease exactly one gets a row back.
Times come from the caller's clock; a holder names one process (or one worker slot of it).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage import tables as t

#: Lease name prefixes.
LISTENER = "listener:"
PARTITION = "partition:"
WORKER = "worker:"
JOB = "job:"
SENDER = "sender:"


def new_holder(suffix: str = "") -> str:
    """Return a holder name unique to this process: ``<hostname>:<pid>:<random>`` (plus `suffix`)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}{suffix}"


def partition_name(index: int) -> str:
    """The lease name of processing partition `index`."""
    return f"{PARTITION}{index}"


def partition_index(name: str) -> int:
    """The partition number of a ``partition:<n>`` lease name."""
    return int(name.removeprefix(PARTITION))


def acquire(conn: Connection, names: Iterable[str], holder: str, now: datetime, ttl: timedelta) -> set[str]:
    """Take, or renew, each named lease that is free, expired or already `holder`'s; return those now held.

    A renewal keeps `acquired_at`; a takeover sets it to `now`.
    """
    wanted = sorted(set(names))
    if not wanted:
        return set()
    lease = t.leases
    rows = [{"name": n, "holder": holder, "expires_at": now + ttl, "acquired_at": now} for n in wanted]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(lease).values(rows)
    elif dialect == "sqlite":
        stmt = sqlite.insert(lease).values(rows)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "holder": excluded.holder,
            "expires_at": excluded.expires_at,
            "acquired_at": case(
                (lease.c.holder == excluded.holder, lease.c.acquired_at), else_=excluded.acquired_at
            ),
        },
        where=or_(lease.c.holder == excluded.holder, lease.c.expires_at <= now),
    ).returning(lease.c.name)
    return set(conn.execute(stmt).scalars())


def renew(conn: Connection, holder: str, now: datetime, ttl: timedelta, prefix: str) -> set[str]:
    """Extend every lease named `prefix…` that `holder` still holds; return their names.

    A lease that expired but that nobody took meanwhile is still the holder's and is renewed.
    """
    lease = t.leases
    stmt = (
        update(lease)
        .where(and_(lease.c.holder == holder, lease.c.name.startswith(prefix, autoescape=True)))
        .values(expires_at=now + ttl)
        .returning(lease.c.name)
    )
    return set(conn.execute(stmt).scalars())


def release(conn: Connection, holder: str, names: Iterable[str] | None = None) -> int:
    """Give up `holder`'s leases (only `names`, when given) so others can take them now; return how many."""
    lease = t.leases
    condition = lease.c.holder == holder
    if names is not None:
        wanted = sorted(set(names))
        if not wanted:
            return 0
        condition = and_(condition, lease.c.name.in_(wanted))
    return int(conn.execute(delete(lease).where(condition)).rowcount or 0)


def live_holders(conn: Connection, prefix: str, now: datetime) -> dict[str, str]:
    """Return name → holder of the unexpired leases named `prefix…`."""
    lease = t.leases
    rows = conn.execute(
        select(lease.c.name, lease.c.holder).where(
            and_(lease.c.name.startswith(prefix, autoescape=True), lease.c.expires_at > now)
        )
    )
    return {name: holder for name, holder in rows}


def holders(conn: Connection) -> set[str]:
    """Return every holder named in the leases table, live or expired."""
    return set(conn.execute(select(t.leases.c.holder).distinct()).scalars())


def holder_process(holder: str) -> tuple[str, int] | None:
    """Return the (hostname, pid) a holder name was made from, or None if it was not made by `new_holder`."""
    host, sep, rest = holder.partition(":")
    pid, sep2, _ = rest.partition(":")
    if not sep or not sep2 or not pid.isdigit():
        return None
    return host, int(pid)


def holder_of(conn: Connection, name: str, now: datetime) -> str | None:
    """Return who holds the lease `name` now, or None when it is free or expired."""
    lease = t.leases
    return conn.execute(
        select(lease.c.holder).where(and_(lease.c.name == name, lease.c.expires_at > now))
    ).scalar_one_or_none()
