"""Set-based bulk writes on PostgreSQL: one statement per batch, the same rows as row-by-row writes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, select, text, update
from sqlalchemy.dialects import postgresql

from moderation.classifier import Moderator
from storage import tables as t
from storage.bulk import execute_many, insert_ignoring_conflicts
from storage.ingest import store_fetch
from storage.recordset import set_plan
from storage.work import AuthorCounts, _add_author_history
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.processing import Processor
from tests.factories import make_message

T0 = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
AWKWARD = ['quote " and \\ backslash', "new\nline\ttab", "emoji 😀 and ünïcödé", "'single' -- ;", ""]


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, bool]]]:
    """Record each statement sent to the database and whether it ran per row (executemany)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, executemany))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _author_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "platform": "x",
            "external_id": f"a{i}",
            "username": AWKWARD[i % len(AWKWARD)],
            "display_name": None if i % 2 else f"Name {i}",
            "is_bot": i % 3 == 0,
            "first_seen_at": T0 + timedelta(microseconds=i),
            "last_seen_at": T0,
        }
        for i in range(count)
    ]


def _threads(conn: Connection, count: int) -> list[int]:
    rows = [
        {
            "platform": "x",
            "external_id": f"t{i}",
            "channel": "mention",
            "created_at": T0,
            "last_message_at": T0,
        }
        for i in range(count)
    ]
    execute_many(conn, t.threads.insert(), rows)
    return list(conn.execute(select(t.threads.c.id).order_by(t.threads.c.id)).scalars())


def test_an_insert_on_postgresql_is_one_statement_and_stores_every_value_exactly(postgres_db: Engine) -> None:
    rows = _author_rows(12)
    with statements(postgres_db) as seen, postgres_db.begin() as conn:
        execute_many(conn, t.authors.insert(), rows)
    assert [many for _, many in seen] == [False]
    assert "json_to_recordset" in seen[0][0]
    a = t.authors
    with postgres_db.connect() as conn:
        stored = conn.execute(
            select(
                a.c.external_id,
                a.c.username,
                a.c.display_name,
                a.c.is_bot,
                a.c.first_seen_at,
                a.c.messages_processed,
            ).order_by(a.c.id)
        ).all()
    assert [tuple(row) for row in stored] == [
        (r["external_id"], r["username"], r["display_name"], r["is_bot"], r["first_seen_at"], 0) for r in rows
    ]


def test_json_columns_keep_documents_and_none_stays_sql_null(postgres_db: Engine) -> None:
    with postgres_db.begin() as conn:
        ids = _threads(conn, 4)
        documents: list[Any] = [{"a": [1, 2.5, None], "b": {"c": 'x"y'}}, None, [], {"ü": "😀"}]
        execute_many(
            conn,
            update(t.threads).where(t.threads.c.id == bindparam("tid")).values(heat_state=bindparam("state")),
            [{"tid": tid, "state": doc} for tid, doc in zip(ids, documents, strict=True)],
        )
    th = t.threads
    with postgres_db.connect() as conn:
        stored = conn.execute(select(th.c.heat_state, th.c.heat_state.is_(None)).order_by(th.c.id)).all()
    assert [row[0] for row in stored] == documents
    assert [row[1] for row in stored] == [False, True, False, False]


def test_an_update_reads_each_rows_values_and_keeps_expressions_on_the_stored_row(
    postgres_db: Engine,
) -> None:
    a = t.authors
    with postgres_db.begin() as conn:
        execute_many(conn, a.insert(), _author_rows(6))
        ids = list(conn.execute(select(a.c.id).order_by(a.c.id)).scalars())
    later = T0 + timedelta(days=1)
    with statements(postgres_db) as seen, postgres_db.begin() as conn:
        execute_many(
            conn,
            update(a)
            .where(a.c.id == bindparam("aid"))
            .values(messages_processed=a.c.messages_processed + bindparam("added"), last_seen_at=later),
            [{"aid": author_id, "added": n} for n, author_id in enumerate(reversed(ids), start=1)],
        )
    assert [many for _, many in seen] == [False]
    with postgres_db.connect() as conn:
        stored = conn.execute(select(a.c.messages_processed, a.c.last_seen_at).order_by(a.c.id)).all()
    assert [tuple(row) for row in stored] == [(n, later) for n in range(6, 0, -1)]


def test_an_update_keyed_on_several_columns_is_set_based(postgres_db: Engine) -> None:
    a = t.authors
    with postgres_db.begin() as conn:
        execute_many(conn, a.insert(), _author_rows(3))
    with statements(postgres_db) as seen, postgres_db.begin() as conn:
        execute_many(
            conn,
            update(a)
            .where((a.c.platform == bindparam("p")) & (a.c.external_id == bindparam("e")))
            .values(username=bindparam("u")),
            [{"p": "x", "e": f"a{i}", "u": f"renamed {i}"} for i in range(3)],
        )
    assert [many for _, many in seen] == [False]
    with postgres_db.connect() as conn:
        assert list(conn.execute(select(a.c.username).order_by(a.c.id)).scalars()) == [
            "renamed 0",
            "renamed 1",
            "renamed 2",
        ]


def test_two_rows_for_one_table_row_both_apply_on_every_backend(db: Engine) -> None:
    a = t.authors
    with db.begin() as conn:
        execute_many(conn, a.insert(), _author_rows(2))
        first, second = conn.execute(select(a.c.id).order_by(a.c.id)).scalars()
        execute_many(
            conn,
            update(a)
            .where(a.c.id == bindparam("aid"))
            .values(messages_processed=a.c.messages_processed + bindparam("n")),
            [{"aid": first, "n": 1}, {"aid": first, "n": 10}, {"aid": second, "n": 100}],
        )
    with db.connect() as conn:
        assert list(conn.execute(select(a.c.messages_processed).order_by(a.c.id)).scalars()) == [11, 100]


def test_a_duplicate_within_a_batch_is_skipped_and_the_first_row_kept_on_every_backend(db: Engine) -> None:
    rows = _author_rows(3)
    duplicate = {**rows[1], "username": "second copy"}
    with db.begin() as conn:
        insert_ignoring_conflicts(conn, t.authors, [*rows, duplicate], ("platform", "external_id"))
    a = t.authors
    with db.connect() as conn:
        stored = conn.execute(select(a.c.external_id, a.c.username).order_by(a.c.id)).all()
    assert [tuple(row) for row in stored] == [(r["external_id"], r["username"]) for r in rows]


def test_a_value_json_cannot_carry_is_written_row_by_row(postgres_db: Engine) -> None:
    with postgres_db.begin() as conn:
        ids = _threads(conn, 2)
        with statements(postgres_db) as seen:
            execute_many(
                conn,
                update(t.threads).where(t.threads.c.id == bindparam("tid")).values(heat=bindparam("heat")),
                [{"tid": ids[0], "heat": math.nan}, {"tid": ids[1], "heat": 0.25}],
            )
    assert [many for _, many in seen] == [True]
    with postgres_db.connect() as conn:
        heats = list(conn.execute(select(t.threads.c.heat).order_by(t.threads.c.id)).scalars())
    assert math.isnan(heats[0]) and heats[1] == 0.25


def test_statements_whose_rewrite_would_mean_something_else_are_not_rewritten() -> None:
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    a = t.authors

    def plan(stmt: Any, keys: list[str]) -> object:
        compiled = stmt.compile(dialect=dialect, column_keys=keys, for_executemany=True)
        return set_plan(dialect, stmt, compiled, list(compiled.binds))

    upsert = postgresql.insert(a).on_conflict_do_update(
        index_elements=["platform", "external_id"], set_={"username": "x"}
    )
    assert plan(upsert, ["platform", "external_id", "username"]) is None
    ranged = update(a).where(a.c.id > bindparam("aid")).values(username=bindparam("u"))
    assert plan(ranged, ["aid", "u"]) is None
    returning = a.insert().returning(a.c.id)
    assert plan(returning, ["platform", "external_id"]) is None
    assert (
        plan(update(a).where(a.c.id == bindparam("aid")).values(username=bindparam("u")), ["aid", "u"])
        is not None
    )


def test_a_processing_batch_on_postgresql_writes_nothing_row_by_row(postgres_db: Engine) -> None:
    clock = FrozenClock(T0)
    messages = [
        make_message(f"m{i}", text, author_id=f"u{i % 7}", thread=f"t{i % 11}", minutes=i)
        for i, text in enumerate(
            ["My order never arrived and nobody answers", "love the new app!", "how do I reset my password?"]
            * 20
        )
    ]
    store_fetch(postgres_db, "test", messages, None, [], clock.now())
    processor = Processor(postgres_db, Moderator(), PolicySource(None).current, clock)
    with statements(postgres_db) as seen:
        assert processor.drain(100) == len(messages)
    per_row = [statement for statement, many in seen if many]
    assert per_row == []
    assert any("json_to_recordset" in statement for statement, _ in seen)


def test_author_counters_do_not_wait_for_the_key_share_locks_of_another_workers_foreign_keys(
    postgres_db: Engine,
) -> None:
    """Another worker's outbox row for the same author holds a key-share lock on it until it commits.

    Updating the author's counters must not wait for that lock: two workers that each hold one
    author's key-share lock and wanted the other's author would deadlock.
    """
    a = t.authors
    with postgres_db.begin() as conn:
        execute_many(conn, a.insert(), _author_rows(2))
        ids = list(conn.execute(select(a.c.id).order_by(a.c.id)).scalars())
    with postgres_db.connect() as other_worker:
        other_worker.execute(select(a.c.id).where(a.c.id.in_(ids)).with_for_update(read=True, key_share=True))
        with postgres_db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            _add_author_history(
                conn, {author_id: AuthorCounts(messages=1, first_message_at=T0) for author_id in ids}
            )
        other_worker.rollback()
    with postgres_db.connect() as conn:
        assert list(conn.execute(select(a.c.messages_processed).order_by(a.c.id)).scalars()) == [1, 1]
