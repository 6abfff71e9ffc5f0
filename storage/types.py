"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_ZERO = timedelta(0)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every backend.

    On SQLite the value is stored as SQLAlchemy's DATETIME text (``YYYY-MM-DD HH:MM:SS.ffffff``,
    which sorts like the times it holds); the conversion is done in one step each way, since
    every processed message binds and reads several of these.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to a stored naive datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """Return the value converter for binding; on SQLite, aware datetime to stored text directly."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """Return the converter for fetched values; on SQLite, stored text to aware datetime directly."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _from_sqlite_text


def _sqlite_text(value: datetime | None) -> str | None:
    """Format an aware datetime as SQLite DATETIME text in UTC (what SQLAlchemy's DATETIME stores)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("naive datetime given to a UTC column")
    if offset != _ZERO:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _from_sqlite_text(value: Any) -> datetime | None:
    """Parse stored SQLite DATETIME text (or a value SQLite already typed) into an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # Stored text has no offset: parsing it with "+00:00" gives the UTC datetime in one
            # step, several times faster than parsing and then replacing the tzinfo.
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text written with an offset of its own
            value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
