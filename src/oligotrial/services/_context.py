"""The service context (engine, settings, password hasher, edit checks), the acting user, roles and
permissions, and the one-transaction-per-use-case helpers."""

from __future__ import annotations

import contextlib
import enum
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from oligotrial.errors import (
    ConflictError,
    InputError,
    PermissionDeniedError,
    Problem,
    ServiceUnavailableError,
)
from oligotrial.settings import Settings
from oligotrial.store.audit import audit_entry, chain_entries
from oligotrial.store.engine import SQLITE_BEGIN_OPTION, WriterGate, writer_gate

__all__ = [
    "ROLE_PERMISSIONS",
    "STUDY_WIDE_ONLY_ROLES",
    "Actor",
    "Edc",
    "EditCheck",
    "Permission",
    "Role",
    "paged",
    "read_connection",
    "read_transaction",
    "write_audit",
    "write_transaction",
]

EditCheck = Callable[[str, str, Mapping[str, Any]], list[Problem]]
"""An edit check: ``(event_code, form_code, item_values) -> problems``, each problem's ``field`` an item."""


class Role(enum.StrEnum):
    """The roles of issue 6; a user holds each at given sites or study-wide."""

    ADMINISTRATOR = "administrator"
    INVESTIGATOR = "investigator"
    RESEARCH_COORDINATOR = "research_coordinator"
    MONITOR = "monitor"
    DATA_MANAGER = "data_manager"
    STATISTICIAN = "statistician"
    DSMB_MEMBER = "dsmb_member"


class Permission(enum.StrEnum):
    """What a role allows; checked by the services against the site of the record."""

    MANAGE_SITES = "manage_sites"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"
    READ_DATA = "read_data"
    ENTER_DATA = "enter_data"
    ANSWER_QUERY = "answer_query"
    RAISE_QUERY = "raise_query"
    CLOSE_QUERY = "close_query"
    VERIFY_SOURCE = "verify_source"
    LOCK_FORM = "lock_form"
    SIGN = "sign"
    EXPORT = "export"
    READ_AGGREGATE = "read_aggregate"


P = Permission
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset({P.MANAGE_SITES, P.MANAGE_USERS, P.READ_AUDIT, P.READ_AGGREGATE}),
    Role.INVESTIGATOR: frozenset(
        {P.READ_DATA, P.ENTER_DATA, P.ANSWER_QUERY, P.SIGN, P.READ_AUDIT, P.READ_AGGREGATE}
    ),
    Role.RESEARCH_COORDINATOR: frozenset({P.READ_DATA, P.ENTER_DATA, P.ANSWER_QUERY, P.READ_AGGREGATE}),
    Role.MONITOR: frozenset(
        {P.READ_DATA, P.RAISE_QUERY, P.CLOSE_QUERY, P.VERIFY_SOURCE, P.READ_AUDIT, P.READ_AGGREGATE}
    ),
    Role.DATA_MANAGER: frozenset(
        {P.READ_DATA, P.RAISE_QUERY, P.CLOSE_QUERY, P.LOCK_FORM, P.READ_AUDIT, P.READ_AGGREGATE}
    ),
    Role.STATISTICIAN: frozenset({P.READ_DATA, P.EXPORT, P.READ_AGGREGATE}),
    Role.DSMB_MEMBER: frozenset({P.READ_AGGREGATE}),
}
"""Permissions per role. Notes: separation of duties: administrators manage accounts and sites but read no
subject data; monitors and data managers raise and close queries but never enter data; DSMB members see
aggregate reports only."""

STUDY_WIDE_ONLY_ROLES = frozenset({Role.ADMINISTRATOR, Role.DSMB_MEMBER, Role.STATISTICIAN})
"""Roles that are only granted study-wide (not per site)."""


@dataclass(frozen=True)
class Actor:
    """Who performs a use case: the user, their role assignments and where the request came from.

    ``assignments`` holds ``(role, site_id)`` pairs, ``site_id`` ``None`` meaning study-wide.
    """

    user_id: int | None
    username: str
    full_name: str
    assignments: frozenset[tuple[Role, int | None]]
    source: str = "unknown"

    @classmethod
    def system(cls, source: str) -> Actor:
        """The command line run by the server's operator: a study-wide administrator without a user row."""
        return cls(None, "system", "System (command line)", frozenset({(Role.ADMINISTRATOR, None)}), source)

    def sites_for(self, permission: Permission) -> frozenset[int] | None:
        """Sites where the actor holds ``permission``; ``None`` means every site (study-wide)."""
        sites: set[int] = set()
        for role, site_id in self.assignments:
            if permission in ROLE_PERMISSIONS[role]:
                if site_id is None:
                    return None
                sites.add(site_id)
        return frozenset(sites)

    def can(self, permission: Permission, site_id: int | None = None) -> bool:
        """Whether the actor holds ``permission`` at ``site_id`` (``None``: study-wide)."""
        sites = self.sites_for(permission)
        if sites is None:
            return True
        return site_id is not None and site_id in sites

    def has_anywhere(self, permission: Permission) -> bool:
        """Whether the actor holds ``permission`` at one site at least."""
        sites = self.sites_for(permission)
        return sites is None or bool(sites)

    def require(self, permission: Permission, site_id: int | None = None) -> None:
        """Raise :class:`PermissionDeniedError` unless the actor holds ``permission`` at ``site_id``."""
        if not self.can(permission, site_id):
            raise PermissionDeniedError(
                Problem("AUTH-101", "", f"your roles do not allow this action ({permission.value})")
            )


@dataclass
class Edc:
    """What every use case needs: the database engine, the settings, the password hasher, edit checks.

    Holds no per-request state, so any number of server processes can serve one database.
    """

    engine: Engine
    settings: Settings
    edit_checks: Mapping[str, EditCheck] = field(default_factory=dict)
    hasher: PasswordHasher = field(init=False)
    read_engine: tuple[Engine, Engine] | None = field(default=None, init=False, repr=False)
    """``engine`` and its autocommit variant for read use cases on PostgreSQL (see ``_read_bind``)."""

    def __post_init__(self) -> None:
        self.hasher = PasswordHasher(
            time_cost=self.settings.argon2_time_cost,
            memory_cost=self.settings.argon2_memory_kib,
            parallelism=self.settings.argon2_parallelism,
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name


GROUP_COMMIT_LIMIT = 16
"""Most write use cases of one process committed by one database transaction (see :func:`write_transaction`)."""


@dataclass(eq=False)
class _Batch:
    """The open database transaction that queued write use cases of one process share (group commit)."""

    connection: Connection
    members: int = 0
    audit: list[dict[str, Any]] = field(default_factory=list)  # entries of its stored use cases, to chain
    current_audit: list[dict[str, Any]] = field(default_factory=list)  # of the use case running in it
    is_rolled_back: bool = False  # its first use case failed: the transaction is gone, nothing else was in it
    is_broken: bool = False
    committed: threading.Event = field(default_factory=threading.Event)
    failure: ServiceUnavailableError | ConflictError | None = None


_BATCHES: weakref.WeakKeyDictionary[Engine, _Batch] = weakref.WeakKeyDictionary()
"""The open batch of each engine; read and changed only by the thread holding the engine's writer gate."""


@contextmanager
def _session(edc: Edc, *, write: bool, snapshot: bool = False) -> Iterator[Session]:
    # A context on a connection (not an engine) runs inside its owner's transaction, which holds the lock.
    if not write or not isinstance(edc.engine, Engine):
        with _transaction(edc, write=write, snapshot=snapshot) as session:
            yield session
        return
    engine, gate = edc.engine, writer_gate(edc.engine)
    is_nested = gate.is_held_here()
    if not gate.acquire(edc.settings.db_busy_timeout_seconds):
        raise ServiceUnavailableError(
            Problem("DB-001", "", "the database is busy with other changes; retry in a moment")
        )
    batch = _BATCHES.get(engine)
    if is_nested and batch is not None:  # a use case inside a use case: a savepoint inside its savepoint
        try:
            with _transaction(
                edc, write=True, connection=batch.connection, audit_into=batch.current_audit
            ) as session:
                yield session
        finally:
            gate.release()
        return
    if batch is None:
        try:
            batch = _BATCHES[engine] = _Batch(_begin_batch(edc))
        except BaseException:
            gate.release()
            raise
    is_first = batch.members == 0
    batch.members += 1
    batch.current_audit = []
    try:
        if not is_first:
            _begin_kept_savepoint(batch.connection)
        with _transaction(
            edc,
            write=True,
            connection=batch.connection,
            own_savepoint=False,
            audit_into=batch.current_audit,
        ) as session:
            yield session
    except BaseException as exc:
        # Rolled back: the first use case of a batch with the batch's whole transaction (there is nothing
        # else in it), the others to their savepoint. A lost connection or a database error fails the batch.
        batch.is_rolled_back = is_first
        batch.is_broken |= (
            isinstance(exc, ServiceUnavailableError | SQLAlchemyError) or batch.connection.invalidated
        )
        _finish(engine, gate, batch, waits=False)
        raise
    batch.audit += batch.current_audit
    _finish(engine, gate, batch, waits=True)


def _begin_batch(edc: Edc) -> Connection:
    connection = None
    try:
        connection = edc.engine.connect()
        connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        connection.begin()
    except BaseException as exc:
        if connection is not None:
            connection.close()
        if isinstance(exc, OperationalError):
            raise _unavailable() from exc
        raise
    return connection


def _begin_kept_savepoint(connection: Connection) -> None:
    """The savepoint of a batch's use case after the first: the use case's session rolls back to it on an
    error; otherwise it is left in place until the batch commits (a release would cost a database round trip
    while the other writers of the process wait)."""
    try:
        connection.begin_nested()
    except SQLAlchemyError as exc:
        raise _unavailable() from exc


def _finish(engine: Engine, gate: WriterGate, batch: _Batch, *, waits: bool) -> None:
    """Pass the open batch to the next queued writer of the process, or commit it; ``waits`` for the commit."""
    if (
        not (batch.is_broken or batch.is_rolled_back)
        and batch.members < GROUP_COMMIT_LIMIT
        and gate.pass_on()
    ):
        if waits:
            batch.committed.wait()
            if batch.failure is not None:
                raise batch.failure
        return
    del _BATCHES[engine]
    batch.failure = _unavailable()  # until the commit has returned
    try:
        if batch.is_rolled_back and not batch.is_broken:
            batch.failure = None  # its only use case has raised its own error
        elif not batch.is_broken:
            chain_entries(batch.connection, batch.audit)
            batch.connection.commit()
            batch.failure = None
    except IntegrityError:
        batch.failure = _conflict()
    except SQLAlchemyError:
        pass  # unavailable
    finally:
        try:
            with contextlib.suppress(SQLAlchemyError):
                if batch.failure is None:
                    batch.connection.close()
                else:  # whatever state the failure left it in, the connection is not used again
                    batch.connection.invalidate()
        finally:
            batch.committed.set()
            gate.release()
    if waits and batch.failure is not None:
        raise batch.failure


@contextmanager
def _transaction(
    edc: Edc,
    *,
    write: bool,
    connection: Connection | None = None,
    own_savepoint: bool = True,
    audit_into: list[dict[str, Any]] | None = None,
    snapshot: bool = False,
) -> Iterator[Session]:
    """A session for one use case; a write use case's audit entries go to ``audit_into`` once its changes
    are stored in the batch's transaction, or, without a batch, are chained before its commit."""
    if connection is not None:
        # A write use case in a batch: in the innermost transaction of the connection, rolled back on an error
        # (its savepoint, begun by the caller, or, the batch's first, the whole transaction: no savepoint's
        # round trip for a lone write); a use case inside a use case, in a savepoint of its own.
        session = Session(
            connection,
            expire_on_commit=False,
            autoflush=True,
            join_transaction_mode="create_savepoint" if own_savepoint else "rollback_only",
        )
    else:
        bind = edc.engine if write or snapshot else _read_bind(edc)
        session = Session(bind, expire_on_commit=False, autoflush=True)
    try:
        with _database_errors(lambda: _roll_back(session)):
            if write and connection is None:
                session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            elif snapshot and edc.dialect == "postgresql" and isinstance(edc.engine, Engine):
                session.connection().exec_driver_sql(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
            yield session
            if write:
                entries = session.info.pop(_AUDIT, [])
                if audit_into is None:
                    session.flush()
                    chain_entries(session.connection(), entries)
                session.commit()
                if audit_into is not None:
                    audit_into += entries
            else:
                if session.info.get(_AUDIT):
                    raise RuntimeError("audit entries written in a read transaction would be lost")
                session.rollback()
    finally:
        session.close()


@contextmanager
def read_connection(edc: Edc) -> Iterator[Connection]:
    """A read use case's database connection, as :func:`read_transaction` reads, without the ORM's session:
    for the busiest read (a form), whose statements select columns (the session's own work was about 40 %
    of that read's processor time in the services, issue 6). Never commits; errors as in every use case."""
    bind = _read_bind(edc)
    if isinstance(bind, Connection):  # a context on a connection: read inside its owner's transaction
        with _database_errors(lambda: None):
            yield bind
        return
    connection: Connection | None = None

    def roll_back() -> None:
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.rollback()

    try:
        with _database_errors(roll_back):
            connection = bind.connect()
            yield connection
            connection.rollback()
    finally:
        if connection is not None:
            connection.close()


@contextmanager
def _database_errors(roll_back: Callable[[], None]) -> Iterator[None]:
    """The database's errors as the services' (409 ``EDC-099``, 503 ``DB-001``, 422 ``DB-002``), each after
    ``roll_back``; any other error is rolled back and raised as it is."""
    try:
        yield
    except IntegrityError as exc:
        roll_back()
        raise _conflict() from exc
    except OperationalError as exc:
        roll_back()
        raise _unavailable() from exc
    except DataError as exc:
        # A value the database cannot hold or compare: a NUL character in text (PostgreSQL), a number beyond
        # its column's range. Bad input, not a server fault.
        roll_back()
        raise InputError(
            Problem(
                "DB-002",
                "",
                "a value cannot be stored or compared by the database (a NUL character in text, or a number "
                "out of range); correct the input",
            )
        ) from exc
    except DBAPIError as exc:
        roll_back()
        if getattr(exc, "connection_invalidated", False):
            raise ServiceUnavailableError(
                Problem("DB-001", "", "the database connection was lost; retry in a moment")
            ) from exc
        raise
    except BaseException:
        roll_back()
        raise


def _read_bind(edc: Edc) -> Engine | Connection:
    """What a read use case runs on: on PostgreSQL the engine in autocommit mode, which saves the ``BEGIN``
    and ``ROLLBACK`` round trips and changes nothing else: under READ COMMITTED every statement reads its own
    snapshot either way. SQLite keeps its read transaction (one snapshot for the whole use case, in process);
    a context on a connection reads inside its owner's transaction."""
    engine: Engine | Connection = edc.engine
    if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        return engine
    if edc.read_engine is None or edc.read_engine[0] is not engine:
        edc.read_engine = (engine, engine.execution_options(isolation_level="AUTOCOMMIT"))
    return edc.read_engine[1]


def _unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        Problem("DB-001", "", "the database is unavailable or busy; retry in a moment")
    )


def _conflict() -> ConflictError:
    return ConflictError(
        Problem("EDC-099", "", "the change conflicts with a concurrent change; reload and retry")
    )


def _roll_back(session: Session) -> None:
    """Roll back after an error; a connection the error has already lost cannot be rolled back, and the
    error that is raised is the one that says why."""
    with contextlib.suppress(SQLAlchemyError):
        session.rollback()


def write_transaction(edc: Edc) -> Any:
    """A write use case's unit of work: all of its changes and audit entries are stored, or none of them.

    Notes
    -----
    Write use cases of one process queue first-come first-served for the engine's writer gate
    (:func:`oligotrial.store.engine.writer_gate`): every write appends to the audit chain and is serialized
    by the database anyway, and the gate makes that wait fair and free of polling. A writer that waits longer
    than ``db_busy_timeout_seconds`` gets 503 ``DB-001``.

    Group commit: the use cases queued at the gate run one after the other in one database transaction
    (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL the audit chain's head is its first lock), each in its own
    savepoint, and the last of them (at most :data:`GROUP_COMMIT_LIMIT`) commits it. A use case that fails is
    rolled back to its savepoint and raises at once; the others go on. Each returns only after the common
    commit, so nothing is acknowledged before it is committed (as durable as the database's settings make
    it: :func:`oligotrial.store.engine.create_engine`); if the commit fails, every use case of the batch
    gets 503 ``DB-001`` (409 ``EDC-099`` for a conflict) and nothing of the batch is stored. A write then
    costs one WAL flush and one hold of the chain head per batch instead of per use case: the flush is what
    bounded PostgreSQL to about 1 / 3 ms of writes per second (``benchmarks/edc/AUDIT_CHAIN_OPTIONS.md``).
    The chain order is the order of the use cases in their batch, which is the order in which they commit.
    """
    return _session(edc, write=True)


def read_transaction(edc: Edc) -> Any:
    """A read-only transaction: one consistent snapshot per statement (per use case on SQLite), never
    commits; on PostgreSQL its statements run in autocommit mode (see :func:`_read_bind`)."""
    return _session(edc, write=False)


def paged(
    session: Session, statement: Any, order_by: Sequence[Any], limit: int, offset: int
) -> tuple[Any, int]:
    """One page of ``statement``'s rows (a list use case's ``limit`` and ``offset``, in ``order_by`` order)
    and the number of all its rows."""
    total = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    return session.execute(statement.order_by(*order_by).limit(limit).offset(offset)), int(total)


def snapshot_transaction(edc: Edc) -> Any:
    """A read-only transaction that reads every statement in one snapshot (PostgreSQL REPEATABLE READ READ
    ONLY; SQLite's WAL read transaction), for readers that must see the tables as of one moment: a backup,
    the audit chain's verification."""
    return _session(edc, write=False, snapshot=True)


def write_audit(
    session: Session,
    actor: Actor,
    action: str,
    table_name: str,
    record_id: object,
    *,
    site_id: int | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Record who did what, when, why and from where, in the caller's transaction.

    The entry is chained to the audit trail at the end of the transaction, after every change it records
    (:func:`oligotrial.store.audit.chain_entries`), and is stored if and only if they are.
    """
    session.info.setdefault(_AUDIT, []).append(
        audit_entry(
            actor_id=actor.user_id,
            actor_username=actor.username,
            action=action,
            table_name=table_name,
            record_id=record_id,
            site_id=site_id,
            old=old,
            new=new,
            reason=reason,
            source=actor.source[:128],
        )
    )


_AUDIT = "oligotrial_audit_entries"
"""Key of a session's ``info`` under which :func:`write_audit` collects the entries of its use case."""
