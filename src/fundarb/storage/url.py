"""Which database: an explicit URL, else ``FUNDARB_DATABASE_URL``, else a SQLite file.

The default file is ``$FUNDARB_HOME/fundarb.db``; ``FUNDARB_HOME`` defaults to
``$XDG_DATA_HOME/fundarb`` (``~/.local/share/fundarb``). PostgreSQL URLs may be given as
``postgresql://...``; the async driver (asyncpg) is chosen here. Passwords never appear in
messages: use :func:`safe_url`.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fundarb.errors import ConfigError

__all__ = ["data_dir", "default_database_url", "resolve_database_url", "safe_url"]

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def data_dir() -> Path:
    """Where fundarb keeps its files by default (the SQLite database, the spool)."""
    home = os.environ.get("FUNDARB_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "fundarb"


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'fundarb.db'}"


def resolve_database_url(explicit: str | None = None) -> URL:
    """The database to use, as an async SQLAlchemy URL. Raises :class:`ConfigError`."""
    raw = explicit or os.environ.get("FUNDARB_DATABASE_URL") or default_database_url()
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "the database URL is not a URL (expected e.g. sqlite:///path/fundarb.db "
            "or postgresql://user@host/db)"
        ) from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(
            f"unsupported database {url.drivername!r}: use sqlite:///path or postgresql://..."
        )
    url = url.set(drivername=driver)
    if driver.startswith("sqlite") and not url.database:
        raise ConfigError("a SQLite URL needs a file path (sqlite:///path/fundarb.db)")
    return url


def safe_url(url: URL) -> str:
    """``url`` for messages and logs: the password hidden."""
    return url.render_as_string(hide_password=True)
