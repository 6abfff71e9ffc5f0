"""UTC datetime columns: the SQLite fast path stores exactly what SQLAlchemy's DATETIME stores."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from storage.types import UTCDateTime

SQLITE = sqlite.dialect()


def _random_datetimes(count: int) -> list[datetime]:
    rng = random.Random(7)
    values = []
    for _ in range(count):
        zone = timezone(timedelta(minutes=rng.randint(-12 * 60, 14 * 60))) if rng.random() < 0.5 else UTC
        values.append(
            datetime(
                rng.randint(2, 9998),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.randint(0, 23),
                rng.randint(0, 59),
                rng.randint(0, 59),
                0 if rng.random() < 0.2 else rng.randint(0, 999_999),
                tzinfo=zone,
            )
        )
    return values


def test_sqlite_text_equals_sqlalchemys_datetime_storage_of_the_utc_time() -> None:
    ours = UTCDateTime().bind_processor(SQLITE)
    theirs = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert ours is not None and theirs is not None
    for value in _random_datetimes(20_000):
        assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None)), value


def test_sqlite_text_reads_back_as_the_same_aware_utc_time() -> None:
    bind = UTCDateTime().bind_processor(SQLITE)
    result = UTCDateTime().result_processor(SQLITE, None)
    assert bind is not None and result is not None
    for value in _random_datetimes(2_000):
        back = result(bind(value))
        assert back == value and back.tzinfo is UTC
    # Text SQLite wrote itself (CURRENT_TIMESTAMP) has no fraction.
    assert result("2026-03-29 01:00:00") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert result(None) is None and bind(None) is None


def test_a_naive_datetime_is_refused_on_every_backend() -> None:
    bind = UTCDateTime().bind_processor(SQLITE)
    assert bind is not None
    with pytest.raises(ValueError, match="naive"):
        bind(datetime(2026, 1, 1))


def test_sqlite_text_with_an_offset_of_its_own_reads_as_that_instant_in_utc() -> None:
    result = UTCDateTime().result_processor(SQLITE, None)
    assert result is not None
    back = result("2026-03-29 03:00:00.500000+02:00")
    assert back == datetime(2026, 3, 29, 1, 0, 0, 500000, tzinfo=UTC) and back.tzinfo is UTC
    assert result("2026-03-29 01:00:00Z") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
