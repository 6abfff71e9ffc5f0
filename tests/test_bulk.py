"""Bulk writes: compiled statements are reused by shape, but every call binds its own values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update

from storage import tables as t
from storage.bulk import _PLANS, _convert_column, execute_many

T0 = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)


def _authors(db: Engine, count: int) -> list[int]:
    rows = [
        {
            "platform": "x",
            "external_id": f"a{i}",
            "username": f"user{i}",
            "is_bot": False,
            "first_seen_at": T0,
            "last_seen_at": T0,
        }
        for i in range(count)
    ]
    with db.begin() as conn:
        execute_many(conn, t.authors.insert(), rows)
        return list(conn.execute(select(t.authors.c.id).order_by(t.authors.c.id)).scalars())


def _touch(db: Engine, ids: list[int], at: datetime, username: str) -> None:
    """An update rebuilt on every call, with a value embedded in the statement and one bound per row."""
    a = t.authors
    with db.begin() as conn:
        execute_many(
            conn,
            update(a).where(a.c.id == bindparam("aid")).values(last_seen_at=at, username=bindparam("name")),
            [{"aid": author_id, "name": f"{username}{author_id}"} for author_id in ids],
        )


def test_a_rebuilt_statement_reuses_the_compiled_plan_but_binds_its_own_embedded_values(db: Engine) -> None:
    ids = _authors(db, 3)
    _touch(db, ids[:2], T0 + timedelta(hours=1), "first")
    plans = len(_PLANS)
    _touch(db, ids[1:], T0 + timedelta(days=2, microseconds=1), "second")
    assert len(_PLANS) == plans  # same shape: no new compilation
    a = t.authors
    with db.connect() as conn:
        stored = conn.execute(select(a.c.id, a.c.username, a.c.last_seen_at).order_by(a.c.id)).all()
    assert [(row.username, row.last_seen_at) for row in stored] == [
        (f"first{ids[0]}", T0 + timedelta(hours=1)),
        (f"second{ids[1]}", T0 + timedelta(days=2, microseconds=1)),
        (f"second{ids[2]}", T0 + timedelta(days=2, microseconds=1)),
    ]


def test_rows_missing_a_column_get_its_default_and_datetimes_round_trip_exactly(db: Engine) -> None:
    ids = _authors(db, 2)
    a = t.authors
    with db.connect() as conn:
        stored = conn.execute(select(a.c.first_seen_at, a.c.messages_processed).where(a.c.id.in_(ids))).all()
    assert all(row.first_seen_at == T0 and row.first_seen_at.tzinfo is not None for row in stored)
    assert [row.messages_processed for row in stored] == [0, 0]


def test_column_conversion_formats_each_distinct_time_once_and_other_values_one_by_one() -> None:
    calls: list[object] = []

    def processor(value: object) -> str:
        calls.append(value)
        return f"{type(value).__name__}:{value}"

    due = T0 + timedelta(minutes=5)
    times = [due, None, T0, due, T0 + timedelta(minutes=5)]
    assert _convert_column(times, processor) == [
        f"datetime:{due}",
        None,
        f"datetime:{T0}",
        f"datetime:{due}",
        f"datetime:{due}",
    ]
    assert calls == [due, T0]
    calls.clear()
    flags = [True, 1, 1.0, True]
    assert _convert_column(flags, processor) == ["bool:True", "int:1", "float:1.0", "bool:True"]
    assert calls == flags
