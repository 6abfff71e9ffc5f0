"""PostgreSQL set-based bulk writes: many rows sent as one JSON recordset, in one statement.

`executemany` runs an INSERT or UPDATE once per row: PostgreSQL starts and ends the executor,
binds and checks every row on its own, and psycopg pipelines the rows, so the server works on
the batch while the client goes on. A statement over ``json_to_recordset(:rows)`` does the same
writes in one execution with one parameter: less server work per row, nothing running behind
the worker's back (which is what lets several workers share a database's cores), and a short
statement to parse (unlike one VALUES list with thousands of parameters).

A statement is rewritten only when the rewrite means the same thing:
- an INSERT (optionally ON CONFLICT DO NOTHING, which skips a duplicate within the batch just as
  row-by-row execution does) whose values all come from the rows;
- an UPDATE whose WHERE is column = :bind equalities (joined by AND) and whose rows have distinct
  values for those binds, so no table row is matched by two rows of the batch (row-by-row, both
  would apply; set-based, only one would).
Anything else, or a row value JSON cannot carry (NaN, infinity), runs as `executemany`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Text, Time, bindparam, cast, column, func, select
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, ColumnClause
from sqlalchemy.types import NullType

ROWS_PARAM = "recordset_rows"


@dataclass(frozen=True, slots=True)
class SetPlan:
    """A statement rewritten over a JSON recordset: its SQL and how to encode the rows."""

    sql: str
    encoders: list[Callable[[Any], Any] | None]
    key_indexes: list[int]


def set_plan(dialect: Any, stmt: Any, compiled: Any, names: list[str]) -> SetPlan | None:
    """Rewrite a compiled executemany statement over a JSON recordset, or None when that would change it."""
    if dialect.name != "postgresql" or not names:
        return None
    binds: dict[str, BindParameter[Any]] = dict(compiled.binds)
    if any(isinstance(binds[name].type, NullType) for name in names):
        return None
    recordset = (
        func.json_to_recordset(cast(bindparam(ROWS_PARAM, type_=Text), JSON))
        .table_valued(*[column(name, _field_type(binds[name].type)) for name in names])
        .render_derived(name="batch", with_types=True)
    )
    fields = {name: _field(recordset.c[name], binds[name].type) for name in names}
    rewritten: Any
    key_indexes: list[int] = []
    if isinstance(stmt, Insert):
        rewritten = _insert(stmt, names, fields)
    elif isinstance(stmt, Update):
        # By key: the compiler binds typed copies of the statement's own parameters.
        by_key = {bind.key: name for bind, name in compiled.bind_names.items()}
        keys = None if stmt._returning else _key_binds(stmt, by_key)
        if keys is None:
            return None
        key_indexes = [names.index(key) for key in keys]
        rewritten = _update(stmt, by_key, fields)
    else:
        return None
    if rewritten is None:
        return None
    sql = rewritten.compile(dialect=dialect).string
    encoders = [_encoder(dialect, binds[name].type) for name in names]
    return SetPlan(sql, encoders, key_indexes)


def encode_rows(plan: SetPlan, names: list[str], columns: list[Sequence[Any]]) -> str | None:
    """Encode the batch as the recordset's JSON, or None when it cannot be sent set-based."""
    count = len(columns[0])
    order: Sequence[int] = range(count)
    if plan.key_indexes:
        keys = list(zip(*(columns[i] for i in plan.key_indexes), strict=True))
        if len(set(keys)) != count:
            return None  # two rows would update the same table row
        try:
            # Rows are locked in key order, as the sorted row-by-row updates did.
            order = sorted(range(count), key=keys.__getitem__)
        except TypeError:
            order = range(count)
    encoded: list[Sequence[Any]] = []
    for encoder, values in zip(plan.encoders, columns, strict=True):
        encoded.append(values if encoder is None else _encode_column(values, encoder))
    records = [dict(zip(names, (values[i] for values in encoded), strict=True)) for i in order]
    try:
        return json.dumps(records, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # NaN, infinity or a value JSON has no spelling for
        return None


def _field_type(type_: Any) -> Any:
    """The recordset field's type: JSON values travel as their text and are cast back."""
    return Text() if isinstance(type_, JSON) else type_


def _field(field: Any, type_: Any) -> Any:
    return cast(field, type_) if isinstance(type_, JSON) else field


def _insert(stmt: Insert, names: list[str], fields: dict[str, Any]) -> Any:
    """INSERT … SELECT from the recordset, keeping an ON CONFLICT DO NOTHING clause."""
    table = stmt.table
    if stmt._values or stmt._multi_values or stmt._returning or not all(n in table.c for n in names):
        return None
    rewritten = stmt.__class__(table).from_select(names, select(*(fields[n] for n in names)))
    post = getattr(stmt, "_post_values_clause", None)
    if post is not None:
        if post.__visit_name__ != "on_conflict_do_nothing":
            return None
        rewritten._post_values_clause = post
    return rewritten


def _key_binds(stmt: Update, by_key: dict[str, str]) -> list[str] | None:
    """The bind names of an UPDATE whose WHERE is only `table column = :bind` terms, else None."""
    where = stmt.whereclause
    terms = (
        list(where.clauses)
        if isinstance(where, BooleanClauseList) and where.operator is operators.and_
        else [where]
    )
    keys: list[str] = []
    for term in terms:
        if not (isinstance(term, BinaryExpression) and term.operator is operators.eq):
            return None
        left, right = term.left, term.right
        if isinstance(left, BindParameter):
            left, right = right, left
        if not (
            isinstance(left, ColumnClause) and left.table is stmt.table and isinstance(right, BindParameter)
        ):
            return None
        name = by_key.get(right.key)
        if name is None:
            return None
        keys.append(name)
    return keys or None


def _update(stmt: Update, by_key: dict[str, str], fields: dict[str, Any]) -> Any:
    """The same UPDATE with each bound value read from the recordset (UPDATE … FROM)."""
    missing = []

    def replace(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter):
            name = by_key.get(element.key)
            if name is None:
                missing.append(element)
                return None
            return fields[name]
        return None

    rewritten = visitors.replacement_traverse(stmt, {}, replace)
    return None if missing else rewritten


def _encoder(dialect: Any, type_: Any) -> Callable[[Any], Any] | None:
    """How a column's values become JSON values the recordset field reads back unchanged (None: as they are)."""
    if isinstance(type_, JSON):
        return getattr(dialect, "_json_serializer", None) or json.dumps
    if isinstance(type_, Boolean):
        return None
    processor = type_._cached_bind_processor(dialect)
    if processor is None and not isinstance(type_, (DateTime, Date, Time)):
        return None  # numbers and strings are JSON as they are (NaN is refused when encoding)

    def encode(value: Any) -> Any:
        if processor is not None:
            value = processor(value)
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        return value

    return encode


def _encode_column(values: Sequence[Any], encoder: Callable[[Any], Any]) -> list[Any]:
    """Encode one column (None stays SQL NULL); each distinct time once, as a batch repeats its times."""
    done: dict[datetime, Any] = {}
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
        elif isinstance(value, datetime):
            encoded = done.get(value)
            if encoded is None:
                encoded = done[value] = encoder(value)
            out.append(encoded)
        else:
            out.append(encoder(value))
    return out
