"""Storage: SQLAlchemy 2 (async) with Alembic migrations; SQLite by default, PostgreSQL in
production (``FUNDARB_DATABASE_URL``). Money is exact (NUMERIC, or exact text on SQLite);
times are UTC."""

from fundarb.storage.store import Store
from fundarb.storage.url import data_dir, default_database_url, resolve_database_url, safe_url

__all__ = ["Store", "data_dir", "default_database_url", "resolve_database_url", "safe_url"]
