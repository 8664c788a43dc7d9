"""Alembic environment: run programmatically by :func:`oligotrial.store.migrate.upgrade_database`, which
passes an open connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from oligotrial.store.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `oligotrial init`, which passes a database connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
