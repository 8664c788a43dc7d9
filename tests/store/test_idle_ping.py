"""PostgreSQL: a pooled connection the server has closed while it sat idle is replaced before use; one in
constant use is not pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from oligotrial.store.engine import create_engine


def _close_the_servers_side(postgres_server, database: str) -> None:
    """What a server restart or an idle timeout does to the pool's connections."""
    postgres_server.execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        " AND pid <> pg_backend_pid()"
    )


def _database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(postgres_server):
    url = postgres_server.new_database()
    engine = create_engine(url, pool_size=1, ping_after_idle_seconds=0.0)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _close_the_servers_side(postgres_server, _database_of(url))
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_again_at_once_is_not_pinged(postgres_server):
    """Within the idle time no ping is sent, so a connection the server closed meanwhile shows as an error of
    that request (the service layer answers 503 DB-001 and the pool discards the connection)."""
    url = postgres_server.new_database()
    engine = create_engine(url, pool_size=1, ping_after_idle_seconds=3600.0)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        _close_the_servers_side(postgres_server, _database_of(url))
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        with engine.connect() as connection:  # the broken connection was discarded
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
