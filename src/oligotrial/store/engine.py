"""Engine creation: SQLite (WAL, foreign keys, explicit BEGIN) and PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from oligotrial.errors import ConfigurationError

__all__ = ["SQLITE_BEGIN_OPTION", "create_engine", "normalize_database_url"]

SQLITE_BEGIN_OPTION = "oligotrial_sqlite_begin"
"""Execution option naming the SQLite transaction mode (``DEFERRED`` or ``IMMEDIATE``) for a connection."""


def normalize_database_url(url: str) -> str:
    """Check a database URL and map ``postgresql://`` / ``postgres://`` to the psycopg 3 driver.

    Raises
    ------
    ConfigurationError
        ``CONF-003`` when the URL is malformed or names another database system.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError.single(
            "CONF-003",
            "database_url",
            "expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
            value=url,
        ) from None
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and parsed.get_driver_name() in {"pysqlite", ""}:
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    raise ConfigurationError.single(
        "CONF-003", "database_url", "only SQLite and PostgreSQL databases are supported", value=url
    )


def create_engine(url: str, *, pool_size: int = 10, busy_timeout_seconds: float = 30.0) -> Engine:
    """Create the engine for ``url`` with the settings the EDC relies on.

    Notes
    -----
    SQLite: journal_mode=WAL (readers never block the writer), foreign_keys=ON, synchronous=NORMAL (durable
    in WAL mode across application crashes), a busy timeout, and transactions begun explicitly so that write
    transactions can take the write lock up front with ``BEGIN IMMEDIATE`` (the audit chain's serialization
    on SQLite). The database file's directory is created when missing.

    PostgreSQL: psycopg 3, READ COMMITTED; the audit chain serializes on ``SELECT ... FOR UPDATE`` of its
    head row.
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = _sa_create_engine(
            url,
            connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine, busy_timeout_seconds)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if pool_size == 0:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    return _sa_create_engine(url, connect_args={"connect_timeout": 10}, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in {"DEFERRED", "IMMEDIATE"}:
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")
