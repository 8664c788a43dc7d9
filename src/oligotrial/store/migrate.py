"""Schema migrations (Alembic), run programmatically from the packaged ``migrations`` directory."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

__all__ = [
    "MIGRATIONS_DIR",
    "current_revision",
    "downgrade_database",
    "head_revision",
    "is_empty_database",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped inside the package."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str:
    """The newest schema revision this version of oligotrial knows (read once per process: the scripts ship
    with the package, and the health check asks on every call)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database, or ``None`` when it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_empty_database(engine: Engine) -> bool:
    """True when the database holds no table at all."""
    return not inspect(engine).get_table_names()


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Create the schema in an empty database, or upgrade an older one, to ``revision``.

    The migration runs in one transaction (PostgreSQL and SQLite both have transactional DDL).
    """
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade_database(engine: Engine, revision: str = "base") -> None:
    """Take the schema down to ``revision`` in one transaction; ``base`` leaves no table, trigger or function,
    not even Alembic's version table."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        if revision == "base":
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
