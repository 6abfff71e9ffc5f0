"""SQLModel tables, repositories and Alembic migrations (SQLite by default, PostgreSQL for scale)."""
