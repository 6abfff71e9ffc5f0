"""Store what a listener fetched: messages, authors, threads and the cursor, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update

from storage import tables as t
from storage.bulk import chunks, execute_many, insert_ignoring_conflicts
from storage.team_chat import store_presses
from tactful.domain import CallbackPress, IncomingMessage, QuarantinedPayload
from tactful.payload_fields import storable_text


@dataclass(frozen=True, slots=True)
class IngestStats:
    """How many messages a fetch added, how many were already known, how many were quarantined."""

    stored: int
    duplicates: int
    quarantined: int


def load_cursor(engine: Engine, key: str) -> str | None:
    """Return the stored cursor for a listener key, or None before its first poll."""
    with engine.connect() as conn:
        return conn.execute(select(t.cursors.c.cursor).where(t.cursors.c.key == key)).scalar_one_or_none()


def _ids_by_external(
    conn: Connection, table: t.Table, platform: str, external_ids: list[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(external_ids):
        rows = conn.execute(
            select(table.c.external_id, table.c.id).where(
                and_(table.c.platform == platform, table.c.external_id.in_(part))
            )
        )
        found.update({ext: ident for ext, ident in rows})
    return found


def named_authors(db: Engine, platform: str, external_ids: Sequence[str]) -> set[str]:
    """Return which of these authors the store already has a display name or username for."""
    a = t.authors
    named: set[str] = set()
    with db.connect() as conn:
        for part in chunks(list(external_ids)):
            named.update(
                conn.execute(
                    select(a.c.external_id).where(
                        and_(
                            a.c.platform == platform,
                            a.c.external_id.in_(part),
                            func.coalesce(a.c.display_name, "") + func.coalesce(a.c.username, "") != "",
                        )
                    )
                ).scalars()
            )
    return named


def _store_authors(
    conn: Connection, batch: list[IncomingMessage], now: datetime
) -> dict[tuple[str, str], int]:
    latest = {(m.platform.value, m.author.external_id): m.author for m in batch}
    insert_ignoring_conflicts(
        conn,
        t.authors,
        (
            {
                "platform": platform,
                "external_id": ext,
                "username": author.username,
                "display_name": author.display_name,
                "is_bot": author.is_bot,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for (platform, ext), author in latest.items()
        ),
        ("platform", "external_id"),
    )
    execute_many(
        conn,
        update(t.authors)
        .where(and_(t.authors.c.platform == bindparam("p"), t.authors.c.external_id == bindparam("e")))
        .values(
            # A payload without names (a Messenger webhook) keeps the names an earlier one gave.
            username=func.coalesce(bindparam("u", type_=t.authors.c.username.type), t.authors.c.username),
            display_name=func.coalesce(
                bindparam("d", type_=t.authors.c.display_name.type), t.authors.c.display_name
            ),
            last_seen_at=bindparam("s"),
        ),
        [
            {"p": platform, "e": ext, "u": a.username, "d": a.display_name, "s": now}
            for (platform, ext), a in latest.items()
        ],
    )
    ids: dict[tuple[str, str], int] = {}
    for platform in {p for p, _ in latest}:
        wanted = [e for p, e in latest if p == platform]
        ids.update({(platform, e): i for e, i in _ids_by_external(conn, t.authors, platform, wanted).items()})
    return ids


def _store_threads(conn: Connection, batch: list[IncomingMessage]) -> dict[tuple[str, str], int]:
    first: dict[tuple[str, str], IncomingMessage] = {}
    for m in batch:
        key = (m.platform.value, m.thread_external_id)
        if key not in first or m.created_at < first[key].created_at:
            first[key] = m
    insert_ignoring_conflicts(
        conn,
        t.threads,
        (
            {
                "platform": platform,
                "external_id": ext,
                "channel": m.channel.value,
                "created_at": m.created_at,
                "last_message_at": m.created_at,
            }
            for (platform, ext), m in first.items()
        ),
        ("platform", "external_id"),
    )
    ids: dict[tuple[str, str], int] = {}
    for platform in {p for p, _ in first}:
        wanted = [e for p, e in first if p == platform]
        ids.update({(platform, e): i for e, i in _ids_by_external(conn, t.threads, platform, wanted).items()})
    return ids


def _parent_threads(conn: Connection, platform: str, parents: list[str]) -> dict[str, str]:
    """Map replied-to ids to their conversation: stored messages first, then our own sent messages."""
    found: dict[str, str] = {}
    for part in chunks(parents):
        rows = conn.execute(
            select(t.messages.c.external_id, t.threads.c.external_id)
            .join(t.threads, t.threads.c.id == t.messages.c.thread_id)
            .where(and_(t.messages.c.platform == platform, t.messages.c.external_id.in_(part)))
        )
        found.update({ext: thread for ext, thread in rows})
    ours = [p for p in parents if p not in found]
    for part in chunks(ours):
        rows = conn.execute(
            select(t.outbox.c.platform_ref, t.threads.c.external_id)
            .join(t.threads, t.threads.c.id == t.outbox.c.thread_id)
            .where(and_(t.outbox.c.platform == platform, t.outbox.c.platform_ref.in_(part)))
        )
        found.update({ref: thread for ref, thread in rows})
    return found


def join_parent_threads(conn: Connection, batch: list[IncomingMessage]) -> list[IncomingMessage]:
    """Move each reply into the conversation of the message it answers, when that message is known.

    Platforms that name the conversation themselves (X's conversation_id) are unchanged by this;
    it matters where a payload only names the parent (a Telegram reply chain, a customer answering
    our own message). `batch` must be in posting order so a chain inside one batch resolves.
    """
    wanted: dict[str, set[str]] = {}
    for m in batch:
        if m.in_reply_to_external_id:
            wanted.setdefault(m.platform.value, set()).add(m.in_reply_to_external_id)
    if not wanted:
        return batch
    known = {
        (platform, parent): thread
        for platform, parents in wanted.items()
        for parent, thread in _parent_threads(conn, platform, sorted(parents)).items()
    }
    joined: list[IncomingMessage] = []
    for m in batch:
        parent = m.in_reply_to_external_id
        thread = known.get((m.platform.value, parent)) if parent else None
        if thread is not None and thread != m.thread_external_id:
            m = replace(m, thread_external_id=thread)
        known[(m.platform.value, m.external_id)] = m.thread_external_id
        joined.append(m)
    return joined


def _known_message_ids(conn: Connection, batch: list[IncomingMessage]) -> set[tuple[str, str]]:
    known: set[tuple[str, str]] = set()
    for platform in {m.platform.value for m in batch}:
        wanted = [m.external_id for m in batch if m.platform.value == platform]
        known.update((platform, e) for e in _ids_by_external(conn, t.messages, platform, wanted))
    return known


def store_messages(
    conn: Connection, messages: list[IncomingMessage], now: datetime, source: str
) -> tuple[int, int]:
    """Insert messages (and their authors and threads) that are not stored yet; return (stored, duplicates)."""
    unique: dict[tuple[str, str], IncomingMessage] = {}
    for m in messages:
        unique.setdefault((m.platform.value, m.external_id), m)
    if not unique:
        return 0, len(messages)
    known = _known_message_ids(conn, list(unique.values()))
    fresh = [m for k, m in unique.items() if k not in known]
    if fresh:
        fresh.sort(key=lambda m: (m.created_at, m.external_id))
        fresh = join_parent_threads(conn, fresh)
        author_ids = _store_authors(conn, fresh, now)
        thread_ids = _store_threads(conn, fresh)
        insert_ignoring_conflicts(
            conn,
            t.messages,
            (
                {
                    "platform": m.platform.value,
                    "external_id": m.external_id,
                    "channel": m.channel.value,
                    "thread_id": thread_ids[(m.platform.value, m.thread_external_id)],
                    "author_id": author_ids[(m.platform.value, m.author.external_id)],
                    "text": m.text,
                    "created_at": m.created_at,
                    "received_at": now,
                    "in_reply_to_external_id": m.in_reply_to_external_id,
                    "language_hint": m.language_hint,
                    "is_private": m.is_private,
                    "private_link_token": m.private_link_token,
                    "source": source,
                    "status": "new",
                    "raw": m.raw or None,
                }
                for m in fresh
            ),
            ("platform", "external_id"),
        )
    return len(fresh), len(messages) - len(fresh)


def store_quarantined(conn: Connection, items: list[QuarantinedPayload], now: datetime) -> None:
    """Keep unreadable payloads with the reason they were rejected, each (source, payload) once.

    A payload a listener cannot read may come back on every poll (a comment listing has no
    cursor past it): it is kept the first time only.
    """
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for q in items:
        payload = storable_text(q.payload)
        rows.setdefault(
            (q.source, payload),
            {"source": q.source, "reason": storable_text(q.reason), "payload": payload, "received_at": now},
        )
    for source in {source for source, _ in rows}:
        payloads = [payload for src, payload in rows if src == source]
        for part in chunks(payloads):
            known = conn.execute(
                select(t.quarantine.c.payload).where(
                    and_(t.quarantine.c.source == source, t.quarantine.c.payload.in_(part))
                )
            ).scalars()
            for payload in known:
                rows.pop((source, payload), None)
    if rows:
        conn.execute(t.quarantine.insert(), list(rows.values()))


def save_cursor(conn: Connection, key: str, cursor: str | None, now: datetime) -> None:
    """Record how far a listener has read (inside the caller's transaction)."""
    if cursor is None:
        return
    changed = conn.execute(
        update(t.cursors).where(t.cursors.c.key == key).values(cursor=cursor, updated_at=now)
    ).rowcount
    if not changed:
        insert_ignoring_conflicts(
            conn, t.cursors, [{"key": key, "cursor": cursor, "updated_at": now}], ("key",)
        )


def store_fetch(
    engine: Engine,
    key: str,
    messages: list[IncomingMessage],
    cursor: str | None,
    quarantined: list[QuarantinedPayload],
    now: datetime,
    *,
    presses: Sequence[CallbackPress] = (),
) -> IngestStats:
    """Store one fetch's messages, button presses, quarantined payloads and cursor atomically."""
    with engine.begin() as conn:
        stored, duplicates = store_messages(conn, messages, now, source=key)
        store_presses(conn, presses, now)
        store_quarantined(conn, quarantined, now)
        save_cursor(conn, key, cursor, now)
    return IngestStats(stored=stored, duplicates=duplicates, quarantined=len(quarantined))
