"""Database engines: SQLite in WAL mode by default, PostgreSQL for scale."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from tactful.payload_fields import storable_json

POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def json_dumps(value: Any) -> str:
    """Serialise a JSON column value (orjson: several times faster than the standard library).

    Payloads kept for audit may hold what orjson refuses (lone surrogates, integers beyond 64
    bits); those are cleaned by `storable_json` rather than failing the whole transaction.
    """
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        return orjson.dumps(storable_json(value)).decode("utf-8")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the right settings for the backend (WAL and busy timeout on SQLite)."""
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A database host that vanishes without closing its connections (a network partition, a
    # dropped VM) must fail the calls within seconds, not hang them for the kernel's minutes:
    # bounded connect time and TCP keepalives, so the stages back off and resume as on a refusal.
    connect_args = {**POSTGRES_CONNECT_ARGS, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
