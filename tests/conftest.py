"""Shared fixtures: databases (SQLite always, PostgreSQL when configured) and a controllable clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.db import make_engine
from storage.migrate import upgrade
from tactful.clock import FrozenClock

POSTGRES_ENV = "TACTFUL_TEST_POSTGRES_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def postgres_url() -> str | None:
    """Return the PostgreSQL test server URL, if configured."""
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that only moves when the test says so."""
    return FrozenClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file URL."""
    return f"sqlite:///{tmp_path / 'tactful.db'}"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL on the test PostgreSQL server whose search_path is a fresh, dropped-after schema."""
    base = postgres_url()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL (skipped when not configured)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """A migrated database engine on each backend."""
    yield from _migrated(db_url)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite engine (for tests that do not need to run on both backends)."""
    yield from _migrated(sqlite_url)


@pytest.fixture
def postgres_db(postgres_schema_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL engine (for PostgreSQL-only behaviour; skipped when not configured)."""
    yield from _migrated(postgres_schema_url)


def _migrated(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
