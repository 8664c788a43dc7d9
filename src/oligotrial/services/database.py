"""Operator use cases on the database as a whole: create or upgrade it, open it, back it up, restore it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from oligotrial.errors import AuditChainError, ConfigurationError, ConflictError, InputError, Problem
from oligotrial.protocol import Protocol
from oligotrial.services._context import (
    Actor,
    Edc,
    Role,
    read_transaction,
    snapshot_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services.admin import create_user
from oligotrial.settings import Settings
from oligotrial.store.audit import verify_audit_chain
from oligotrial.store.backup_file import BACKUP_FORMAT, BackupReader, write_backup
from oligotrial.store.engine import create_engine
from oligotrial.store.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    is_empty_database,
    upgrade_database,
)
from oligotrial.store.tables import AuditChainHead, Meta, User

__all__ = [
    "BACKUP_FORMAT",
    "backup_database",
    "check_health",
    "init_database",
    "open_edc",
    "restore_database",
]


def open_edc(settings: Settings, *, pool_size: int | None = None) -> Edc:
    """An :class:`Edc` context on ``settings.database_url`` (the schema must be current: run ``init``).

    Raises
    ------
    ConfigurationError
        ``CONF-012`` when the database was never initialized or needs an upgrade.
    """
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        busy_timeout_seconds=settings.db_busy_timeout_seconds,
    )
    revision = current_revision(engine)
    if revision != head_revision():
        engine.dispose()
        raise ConfigurationError.single(
            "CONF-012",
            "database_url",
            f"the database schema is at revision {revision or 'none'}, this version needs {head_revision()}; "
            "run `oligotrial init` on it first",
            value=settings.database_url,
        )
    return Edc(engine, settings)


def _read_meta(engine: Engine) -> dict[str, str]:
    tables = inspect(engine).get_table_names()
    if not tables:
        return {}
    if "meta" not in tables or "alembic_version" not in tables:
        raise ConfigurationError.single(
            "CONF-011", "database_url", "the database holds tables but is not an oligotrial database"
        )
    with engine.connect() as connection:
        return {k: v for k, v in connection.execute(select(Meta.key, Meta.value)).all()}


def init_database(
    settings: Settings, protocol: Protocol, admin_username: str, admin_password: str, source: str = "cli"
) -> dict[str, Any]:
    """Create the database, or upgrade it, non-interactively, and make sure the administrator exists.

    Notes
    -----
    Idempotent: on an existing database of the same protocol id the schema is upgraded and an existing
    administrator account is left untouched. A database created for another protocol id is refused.

    Raises
    ------
    ConfigurationError
        ``CONF-010`` the database belongs to another protocol; ``CONF-011`` it is not an oligotrial database.
    """
    engine = create_engine(
        settings.database_url, pool_size=1, busy_timeout_seconds=settings.db_busy_timeout_seconds
    )
    try:
        meta = _read_meta(engine)
        pid, pversion = protocol.protocol.id, protocol.protocol.version
        if meta.get("protocol_id") not in (None, pid):
            raise ConfigurationError.single(
                "CONF-010",
                "database_url",
                f"the database was created for protocol {meta['protocol_id']!r}, not {pid!r}; "
                "use another database for this protocol",
                value=meta["protocol_id"],
            )
        before = current_revision(engine)
        upgrade_database(engine)
        edc = Edc(engine, settings)
        actor = Actor.system(source)
        created_admin = False
        with write_transaction(edc) as session:
            now = datetime.now(UTC).isoformat()
            if "protocol_id" not in meta:
                for key, value in (("protocol_id", pid), ("protocol_version", pversion), ("created_at", now)):
                    session.add(Meta(key=key, value=value))
                write_audit(
                    session,
                    actor,
                    "create",
                    "meta",
                    "protocol",
                    site_id=None,
                    new={"protocol_id": pid, "protocol_version": pversion},
                )
            elif meta.get("protocol_version") != pversion:
                session.get_one(Meta, "protocol_version").value = pversion
                write_audit(
                    session,
                    actor,
                    "update",
                    "meta",
                    "protocol",
                    site_id=None,
                    old={"protocol_version": meta.get("protocol_version")},
                    new={"protocol_version": pversion},
                    reason="protocol version changed at init",
                )
            exists = (
                session.execute(select(User.id).where(User.username == admin_username)).first() is not None
            )
        if not exists:
            create_user(
                edc,
                actor,
                admin_username,
                admin_password,
                "Administrator",
                roles=[(Role.ADMINISTRATOR, None)],
            )
            created_admin = True
        return {
            "database": engine.url.render_as_string(hide_password=True),
            "schema_before": before,
            "schema": head_revision(),
            "protocol_id": pid,
            "protocol_version": pversion,
            "admin_user": admin_username,
            "admin_created": created_admin,
        }
    finally:
        engine.dispose()


def backup_database(
    edc: Edc, path: Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Write a consistent online backup of every table to ``path`` (gzip JSON Lines,
    :mod:`oligotrial.store.backup_file`), atomically.

    Notes
    -----
    All tables are read in one snapshot (PostgreSQL REPEATABLE READ; SQLite WAL read transaction) while the
    server keeps running, so the backup's audit chain ends exactly at its chain head. Rows are read and
    written a batch at a time: the memory used does not grow with the database. ``progress(rows written,
    rows in all)`` is called after each batch.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file, snapshot_transaction(edc) as session:
            connection = session.connection()
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            header = {"schema": revision, "created_at": datetime.now(UTC).isoformat()}
            counts = write_backup(connection, file, header, progress)
            file.flush()
            os.fsync(file.fileno())  # on disk before it takes the backup's name
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the new name on disk too
    finally:
        os.close(folder)
    return {"file": str(path), "schema": revision, "rows": counts, "audit_entries": counts["audit_log"]}


def restore_database(
    settings: Settings,
    path: Path,
    source: str = "cli",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Restore a backup into an empty database, verifying the audit chain before committing.

    Notes
    -----
    The rows are inserted, a batch at a time, and the chain verified in one transaction, so a refused backup
    (a chain that does not verify, a file cut short or unreadable part-way) leaves no row. When the target had
    no tables before (a new database), the schema this call created is dropped again, so a refused restore
    leaves the target as it found it. ``progress(step, done, total)`` is called after each batch of the steps
    ``rows`` (rows inserted, rows in the file) and ``chain`` (audit entries verified, the chain's length).

    Raises
    ------
    InputError
        ``EDC-050`` not a readable backup (naming the line), ``EDC-052`` a backup of another schema revision.
    ConflictError
        ``EDC-051`` the target database already holds data.
    AuditChainError
        The backup's audit chain does not verify; nothing is restored.
    """
    with BackupReader(Path(path)) as backup:
        if backup.header.get("schema") != head_revision():
            raise InputError.single(
                "EDC-052",
                str(path),
                f"the backup has schema {backup.header.get('schema')}, this version restores {head_revision()}",
            )
        engine = create_engine(
            settings.database_url, pool_size=1, busy_timeout_seconds=settings.db_busy_timeout_seconds
        )
        was_blank = is_empty_database(engine)
        try:
            upgrade_database(engine)
            edc = Edc(engine, settings)
            with write_transaction(edc) as session:
                _check_empty(session)
                connection = session.connection()
                connection.execute(delete(AuditChainHead))
                inserted = 0
                for table, batches in backup.tables():
                    for rows in batches:
                        connection.execute(insert(table), rows)
                        inserted += len(rows)
                        if progress is not None:
                            progress("rows", inserted, backup.total_rows)
                    if edc.dialect == "postgresql" and backup.rows[table.name] and "id" in table.c:
                        connection.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"  # noqa: S608 - table names come from our metadata
                        )
                session.expire_all()
                report = verify_audit_chain(session, None if progress is None else partial(progress, "chain"))
                if not report.is_intact:
                    raise AuditChainError(report.problems)
                write_audit(
                    session,
                    Actor.system(source),
                    "restore",
                    "database",
                    "backup",
                    site_id=None,
                    new={
                        "file": Path(path).name,
                        "created_at": backup.header.get("created_at"),
                        "entries": report.entries,
                        "head_hash": report.head_hash,
                    },
                )
            return {
                "file": str(path),
                "database": engine.url.render_as_string(hide_password=True),
                "rows": backup.rows,
                "audit_entries_verified": report.entries,
                "head_hash": report.head_hash,
            }
        except BaseException:
            if was_blank:
                downgrade_database(engine)
            raise
        finally:
            engine.dispose()


def _check_empty(session: Session) -> None:
    """``EDC-051`` unless the database holds no user, no audit entry and no protocol."""
    head = session.get(AuditChainHead, 1)
    has_data = session.execute(select(func.count()).select_from(User)).scalar_one() > 0
    if has_data or head is None or head.seq != 0 or session.get(Meta, "protocol_id") is not None:
        raise ConflictError(
            Problem("EDC-051", "database_url", "restore needs an empty database; create a new one")
        )


def check_health(edc: Edc) -> dict[str, Any]:
    """Whether the database answers and its schema is current (for load balancers' health checks)."""
    with read_transaction(edc) as session:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return {"status": "ok" if revision == head_revision() else "schema-outdated", "schema": revision}
