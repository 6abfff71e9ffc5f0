"""Portable bulk helpers: insert-or-ignore and chunked IN look-ups on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from storage.recordset import ROWS_PARAM, SetPlan, encode_rows, set_plan

T = TypeVar("T")
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring_conflicts(
    conn: Connection, table: Table, rows: Iterable[dict[str, Any]], conflict_columns: Sequence[str]
) -> None:
    """Insert rows, silently skipping those that collide on `conflict_columns` (idempotent writes)."""
    batch = list(rows)
    if not batch:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    execute_many(conn, stmt, batch)


def execute_many(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run one INSERT/UPDATE for many rows with the DBAPI's executemany.

    The statement is compiled once per shape (cached under SQLAlchemy's own cache key, so a
    rebuilt statement with the same structure reuses it) and each column's bind processor is
    looked up once, so the per-row cost is one call per value instead of SQLAlchemy's full
    per-row parameter pipeline. Values still go through the columns' types (JSON, UTC
    datetimes), so it stays portable. On PostgreSQL, a statement that can be is run once over
    the whole batch as a JSON recordset (`storage.recordset`) instead of once per row.
    """
    if not rows:
        return
    dialect = conn.dialect
    plan, defaults = _plan(dialect, stmt, rows[0])
    values = _values_getter(plan.names, rows, defaults)
    columns: list[Sequence[Any]] = list(zip(*map(values, rows), strict=True))
    if plan.set_based is not None and len(rows) > 1:
        payload = encode_rows(plan.set_based, plan.names, columns)
        if payload is not None:
            conn.exec_driver_sql(plan.set_based.sql, {ROWS_PARAM: payload})
            return
    for index, processor in plan.converters:
        columns[index] = _convert_column(columns[index], processor)
    if plan.positional:
        params: list[Any] = list(zip(*columns, strict=True))
    else:
        names = plan.names
        params = [dict(zip(names, row_values, strict=True)) for row_values in zip(*columns, strict=True)]
    conn.exec_driver_sql(plan.sql, params)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for executemany: its SQL, parameter order and value converters."""

    compiled: Any
    sql: str
    names: list[str]
    positional: bool
    converters: list[tuple[int, Any]]
    table_defaults: dict[str, Any]
    set_based: SetPlan | None


_PLANS: dict[tuple[Any, ...], _Plan] = {}
_MAX_PLANS = 256


def _plan(dialect: Any, stmt: Any, first: dict[str, Any]) -> tuple[_Plan, dict[str, Any]]:
    """Return the compiled plan for this statement shape and row keys, and the row defaults."""
    keys = tuple(first)
    cache_key = stmt._generate_cache_key()
    key = None if cache_key is None else (dialect.name, dialect.paramstyle, cache_key.key, keys)
    plan = _PLANS.get(key) if key is not None else None
    if plan is None:
        plan = _compile(dialect, stmt, keys, cache_key)
        if key is not None:
            if len(_PLANS) >= _MAX_PLANS:
                _PLANS.clear()
            _PLANS[key] = plan
    # Values embedded in the statement (``updated_at=now``) come from this statement, not the cached one.
    extracted = None if cache_key is None else cache_key.bindparams
    defaults = plan.compiled.construct_params(first, extracted_parameters=extracted)
    defaults.update(plan.table_defaults)  # the columns' scalar defaults, for rows that leave them out
    return plan, defaults


def _compile(dialect: Any, stmt: Any, keys: tuple[str, ...], cache_key: Any) -> _Plan:
    compiled = stmt.compile(
        dialect=dialect, column_keys=list(keys), for_executemany=True, cache_key=cache_key
    )
    table_defaults: dict[str, Any] = {}
    table = getattr(stmt, "table", None)
    if table is not None:
        for column in table.columns:
            default = column.default
            if column.key not in keys and default is not None and default.is_scalar:
                table_defaults[column.key] = default.arg
    processors = {name: bind.type._cached_bind_processor(dialect) for name, bind in compiled.binds.items()}
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    converters = [(i, processors[name]) for i, name in enumerate(names) if processors.get(name)]
    set_based = set_plan(dialect, stmt, compiled, names)
    return _Plan(
        compiled, compiled.string, names, bool(compiled.positional), converters, table_defaults, set_based
    )


def _convert_column(column: Sequence[Any], processor: Any) -> Sequence[Any]:
    """Run a bind processor over one column; datetimes are converted once per distinct value.

    A batch's rows share many times (its own time, due times by the minute, a thread's last
    message), and formatting a datetime costs far more than a dictionary look-up; other values
    are cheap to convert, so they are converted one by one.
    """
    first = column[0]
    if first is not None and len(set(map(id, column))) == 1:
        return [processor(first)] * len(column)
    if not isinstance(first, datetime):
        return [None if value is None else processor(value) for value in column]
    converted: dict[datetime, Any] = {}
    out: list[Any] = []
    for value in column:
        if value is None:
            out.append(None)
            continue
        done = converted.get(value)
        if done is None:
            done = converted[value] = processor(value)
        out.append(done)
    return out


def _values_getter(names: list[str], rows: Sequence[dict[str, Any]], defaults: dict[str, Any]) -> Any:
    """Return a function giving a row's bind values in `names` order (C-speed when every row has every key)."""
    first = rows[0].keys()
    if all(name in first for name in names) and all(row.keys() == first for row in rows):
        getter = itemgetter(*names)
        if len(names) == 1:
            return lambda row: [getter(row)]
        return lambda row: list(getter(row))
    return lambda row: [row.get(name, defaults.get(name)) for name in names]
