"""The send budget every process shares: a sliding-window cap on automated sends, and identical-text checks.

A sender asks for a slot in one short transaction before it marks an item "sending": `lock`
takes the budget's row lock first (an upsert of its row: a row lock on PostgreSQL, SQLite's
write lock), so of two processes racing for the last slot the second waits for the first to
commit and then sees its slot. `full_until` counts the slots taken in the window (at most
`limit` may be) and `take` records one. A slot counts from the moment it is taken, whatever
the send then does: a call that failed still cost a platform request, and one that failed
without an answer may have posted. Slots that left the window are deleted by the next request.

Under the same lock the sender asks `identical_sends` how many other conversations on the
platform got the same text (casefolded, whitespace collapsed) within a window, counting sends
in flight; the text's hash is stored on the outbox row when it is marked "sending", and the
(platform, text_hash, sent_at) index makes that one range read. Times come from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from storage import tables as t

#: The budget of every automated send but hides (`safety.global_sends_per_minute`).
GLOBAL = "global"
#: The cap's sliding window.
WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IdenticalTexts:
    """How often one text may go out on a platform: to at most `max_sends` conversations per `window`."""

    max_sends: int
    window: timedelta


def lock(conn: Connection, now: datetime, budget: str = GLOBAL) -> None:
    """Hold the budget's row lock until the transaction ends (the row is created the first time)."""
    dialect = conn.dialect.name
    row = {"name": budget, "updated_at": now}
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(t.send_budget).values(row)
    elif dialect == "sqlite":
        stmt = sqlite.insert(t.send_budget).values(row)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"updated_at": now}))


def full_until(
    conn: Connection, now: datetime, limit: int, window: timedelta = WINDOW, budget: str = GLOBAL
) -> datetime | None:
    """With the lock held: None if a slot is free now, else when the next one frees.

    Slots that left the window are deleted first.
    """
    s = t.send_slots
    cutoff = now - window
    conn.execute(delete(s).where(and_(s.c.budget == budget, s.c.reserved_at <= cutoff)))
    in_window = and_(s.c.budget == budget, s.c.reserved_at > cutoff)
    taken = int(conn.execute(select(func.count()).select_from(s).where(in_window)).scalar_one())
    if taken < limit:
        return None
    # The (taken - limit + 1)-th oldest slot must leave the window before one more fits.
    oldest: datetime = conn.execute(
        select(s.c.reserved_at).where(in_window).order_by(s.c.reserved_at).offset(taken - limit).limit(1)
    ).scalar_one()
    return oldest + window


def take(conn: Connection, now: datetime, outbox_id: int, budget: str = GLOBAL) -> None:
    """With the lock held and a slot free: count one send of outbox item `outbox_id` at `now`."""
    conn.execute(t.send_slots.insert().values(budget=budget, reserved_at=now, outbox_id=outbox_id))


def slots_taken(conn: Connection, now: datetime, window: timedelta = WINDOW, budget: str = GLOBAL) -> int:
    """How many slots of the budget were taken in the window ending at `now`."""
    s = t.send_slots
    where = and_(s.c.budget == budget, s.c.reserved_at > now - window)
    return int(conn.execute(select(func.count()).select_from(s).where(where)).scalar_one())


def identical_sends(
    conn: Connection,
    *,
    outbox_id: int,
    platform: str,
    digest: str,
    thread_id: int,
    recipient_external_id: str,
    since: datetime,
) -> int:
    """How many other conversations on `platform` got the text `digest` since `since`, or are getting it now.

    Another conversation is another thread or another recipient; a send in flight ("sending")
    counts, so two senders cannot both pass the check with the same text.
    """
    query = identical_sends_query(outbox_id, platform, digest, thread_id, recipient_external_id, since)
    return int(conn.execute(query).scalar_one())


def identical_sends_query(
    outbox_id: int, platform: str, digest: str, thread_id: int, recipient_external_id: str, since: datetime
) -> Select[int]:
    """The count `identical_sends` runs: a range read of the (platform, text_hash, sent_at) index."""
    o = t.outbox
    where = and_(
        o.c.platform == platform,
        o.c.text_hash == digest,
        o.c.id != outbox_id,
        or_(o.c.thread_id != thread_id, o.c.recipient_external_id != recipient_external_id),
        or_(o.c.sent_at > since, o.c.status == "sending"),
    )
    return select(func.count()).select_from(o).where(where)


def worn_texts(conn: Connection, platform: str, since: datetime, max_sends: int) -> frozenset[str]:
    """Hashes of the texts sent on `platform` since `since` at least `max_sends` times (worn out for now).

    The engine prefers variants whose text is not among them, so that the identical-text check
    rarely has to withhold a send. It counts sends, not conversations: a hint, not the check.
    """
    o = t.outbox
    query = (
        select(o.c.text_hash)
        .where(and_(o.c.platform == platform, o.c.text_hash.is_not(None), o.c.sent_at > since))
        .group_by(o.c.text_hash)
        .having(func.count() >= max_sends)
    )
    return frozenset(conn.execute(query).scalars())


def identical_reason(count: int, platform: str, window: timedelta) -> str:
    """The error an outbox item withheld for its text gets (shown on the row and in the review queue)."""
    hours = window.total_seconds() / 3600
    shown = f"{hours:g} h"
    times = "time" if count == 1 else "times"
    return (
        f"withheld: identical text already sent {count} {times} on {platform} in the last {shown} "
        "(spam protection); answer personally"
    )
