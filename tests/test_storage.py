"""Storage: migrations, exactly-once ingest, cursors in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, inspect, select

from storage import tables as t
from storage.db import make_engine
from storage.ingest import load_cursor, store_fetch
from storage.migrate import downgrade, upgrade
from tactful.clock import FrozenClock
from tactful.domain import QuarantinedPayload
from tests.factories import make_message


def count(db: Engine, table: t.Table) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_migrations_create_every_table_and_are_reversible(db: Engine) -> None:
    names = set(inspect(db).get_table_names())
    assert {"messages", "outbox", "review_items", "listener_cursors", "audit_log", "quarantine"} <= names
    downgrade(db, "base")
    assert "messages" not in set(inspect(db).get_table_names())
    upgrade(db)
    upgrade(db)  # idempotent
    assert "messages" in set(inspect(db).get_table_names())


def test_messages_are_stored_exactly_once_with_their_cursor(db: Engine, clock: FrozenClock) -> None:
    batch = [make_message(str(i), f"text {i}", author_id=str(i % 3), thread="t1") for i in range(1, 6)]
    first = store_fetch(db, "x:mentions:1", batch, "5", [], clock.now())
    again = store_fetch(
        db, "x:mentions:1", [*batch, make_message("6", thread="t1", author_id="0")], "6", [], clock.now()
    )
    assert (first.stored, first.duplicates) == (5, 0)
    assert (again.stored, again.duplicates) == (1, 5)
    assert count(db, t.messages) == 6
    assert count(db, t.authors) == 3
    assert count(db, t.threads) == 1
    assert load_cursor(db, "x:mentions:1") == "6"


def test_duplicate_inside_one_fetch_is_stored_once(db: Engine, clock: FrozenClock) -> None:
    stats = store_fetch(db, "k", [make_message("1"), make_message("1")], "1", [], clock.now())
    assert stats.stored == 1
    assert count(db, t.messages) == 1


def test_quarantined_payloads_are_kept_with_reason(db: Engine, clock: FrozenClock) -> None:
    store_fetch(
        db,
        "k",
        [make_message("1")],
        "1",
        [QuarantinedPayload("k", "missing text", '{"id": "2"}')],
        clock.now(),
    )
    with db.connect() as conn:
        row = conn.execute(select(t.quarantine.c.reason, t.quarantine.c.payload)).one()
    assert row.reason == "missing text"
    assert count(db, t.messages) == 1


def test_stored_times_come_back_aware_utc(db: Engine, clock: FrozenClock) -> None:
    message = make_message("1", minutes=7)
    store_fetch(db, "k", [message], None, [], clock.now())
    with db.connect() as conn:
        created = conn.execute(select(t.messages.c.created_at)).scalar_one()
    assert created == message.created_at
    assert created.tzinfo is not None
    assert load_cursor(db, "k") is None


def test_migrations_match_the_models(db: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_waiting_items_of_a_batch_are_found_by_thread_not_by_walking_the_backlog(tmp_path: Path) -> None:
    """SQLite plans the processing stage's waiting-item look-up on the thread index."""
    from storage.work import waiting_items_of_threads

    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    query = waiting_items_of_threads([1, 2, 3]).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    with engine.connect() as conn:
        plan = " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    engine.dispose()
    assert "ix_review_items_thread_status" in plan, plan
