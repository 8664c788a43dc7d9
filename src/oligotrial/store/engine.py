"""Engine creation: SQLite (WAL, foreign keys, explicit BEGIN) and PostgreSQL through psycopg 3."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.pool import NullPool

from oligotrial.errors import ConfigurationError
from oligotrial.store.prepared import run_driver_sql

__all__ = [
    "CHECKPOINT_DELAY_SECONDS",
    "PING_AFTER_IDLE_SECONDS",
    "SQLITE_BEGIN_OPTION",
    "WriterGate",
    "create_engine",
    "normalize_database_url",
    "writer_gate",
]

SQLITE_BEGIN_OPTION = "oligotrial_sqlite_begin"
"""Execution option naming the SQLite transaction mode (``DEFERRED`` or ``IMMEDIATE``) for a connection."""

PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection that has been idle this long is pinged before it is used again."""

_IDLE_SINCE = "oligotrial_idle_since"


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


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    busy_timeout_seconds: float = 30.0,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
) -> Engine:
    """Create the engine for ``url`` with the settings the EDC relies on.

    Notes
    -----
    SQLite: journal_mode=WAL (readers never block the writer), foreign_keys=ON, synchronous=NORMAL (durable
    in WAL mode across application crashes; an operating-system crash or power loss can lose the last
    commits, which ``FULL`` would not, at the cost of a flush per commit), a busy timeout, and transactions begun explicitly so that write
    transactions can take the write lock up front with ``BEGIN IMMEDIATE`` (the audit chain's serialization
    on SQLite). The database file's directory is created when missing. The WAL is checkpointed by a background
    thread, not by the commits (:func:`_checkpoint_in_background`).

    PostgreSQL: psycopg 3, READ COMMITTED; the audit chain serializes on ``SELECT ... FOR UPDATE`` of its
    head row. A pooled connection idle for ``ping_after_idle_seconds`` or more is pinged before use and
    replaced when the server has closed it (a restart, a network cut, an idle timeout), so that the request
    does not fail; one in constant use is not, which saves a round trip per request under load (SQLAlchemy's
    ``pool_pre_ping`` pings at every checkout).
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        is_file = bool(database) and database != ":memory:" and not database.startswith("file:")
        path = Path(database).expanduser().resolve() if is_file else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = _sa_create_engine(
            url,
            connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine, busy_timeout_seconds)
        if path is not None:
            _checkpoint_in_background(engine, str(path))
        return engine
    kwargs: dict[str, Any] = {}
    if pool_size == 0:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    # psycopg's own automatic preparation off: it would deallocate the prepared statements of
    # ``store.prepared`` at every rollback (see ``store._libpq``)
    engine = _sa_create_engine(url, connect_args={"connect_timeout": 10, "prepare_threshold": None}, **kwargs)
    _ping_when_idle(engine, ping_after_idle_seconds)
    _transaction_commands_on_libpq(engine)
    return engine


def _transaction_commands_on_libpq(engine: Engine) -> None:
    """Send the savepoints' commands and ``COMMIT`` on psycopg's libpq connection, as the prepared statements
    are sent (:mod:`oligotrial.store._libpq`).

    SQLAlchemy sends ``SAVEPOINT`` and its ``ROLLBACK TO`` and ``RELEASE`` through ``Connection.execute`` (a
    clause compiled, an execution context, psycopg's cursor): 150-200 microseconds of processor time on this
    project's machine where libpq takes 15-25; every write use case of a group-commit batch after the first
    begins one (:func:`oligotrial.services.write_transaction`). psycopg's ``Connection.commit`` costs about
    70 microseconds more than libpq's. The dialect of this engine only is given these commands: the same SQL,
    in the same transaction, with the same errors (``run_driver_sql``; psycopg's error classes for a commit,
    which SQLAlchemy wraps as ever)."""
    from oligotrial.store import _libpq  # psycopg imported with its dialect

    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote

    def do_savepoint(connection: Any, name: str) -> None:
        run_driver_sql(connection, f"SAVEPOINT {quote(name)}")

    def do_rollback_to_savepoint(connection: Any, name: str) -> None:
        run_driver_sql(connection, f"ROLLBACK TO SAVEPOINT {quote(name)}")

    def do_release_savepoint(connection: Any, name: str) -> None:
        run_driver_sql(connection, f"RELEASE SAVEPOINT {quote(name)}")

    def do_commit(dbapi_connection: Any) -> None:
        # a pooled connection (SQLAlchemy passes its proxy) or the driver connection itself
        _libpq.commit(getattr(dbapi_connection, "driver_connection", dbapi_connection))

    dialect.do_savepoint = do_savepoint  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = do_release_savepoint  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle ``idle_seconds`` or more; a failed ping
    makes the pool discard it and check out another (SQLAlchemy's disconnect handling)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"the pooled connection no longer answers: {error}") from error


def _configure_sqlite(engine: Engine, busy_timeout_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # the background checkpointer's work instead
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in {"DEFERRED", "IMMEDIATE"}:
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        run_driver_sql(connection, f"BEGIN {mode}")


CHECKPOINT_DELAY_SECONDS = 0.5
"""How long the background checkpointer of a SQLite engine lets commits gather before it copies the WAL into
the database file (one pass for all of them)."""

WAL_RESTART_PAGES = 4096
"""WAL pages (16 MB at SQLite's default page size) past which the background checkpointer starts the WAL
over (:func:`_checkpoint`)."""

WAL_RESTART_WAIT_MS = 50
"""How long a restart of the WAL waits for the readers still in it (SQLite's busy handler)."""


def _checkpoint_in_background(engine: Engine, database: str) -> None:
    """Copy a SQLite engine's committed WAL into the database file ``database`` (an absolute path) on a thread
    of its own, never in a commit, and start the WAL over before it grows without bound.

    Notes
    -----
    SQLite's automatic checkpoint runs inside the commit that fills the WAL past 1,000 pages: that commit
    copies the pages and waits for two disk flushes before it returns, and meanwhile every writer of the
    process waits for it at the writer gate (and those of other processes at the gate's lock file). A flush
    this machine's disk holds for 250 ms to 1 s then stalls every save (issue 6: a save p99 of 951 ms in one
    20-s load run, 1,059 ms in its worst second). So the engine's connections do not checkpoint
    (``wal_autocheckpoint=0``); a daemon thread of the process, woken by commits, waits
    :data:`CHECKPOINT_DELAY_SECONDS`, then runs a checkpoint (:func:`_checkpoint`) on a connection of its
    own. Durability is unchanged: the commits are in the WAL either way (``synchronous=NORMAL``), and the
    checkpoint flushes the WAL before it copies it. The thread starts at the first commit, holds no
    connection between passes and ends when the engine is garbage-collected; another process's checkpoint
    running at the same moment makes a pass a no-op.
    """
    committed = threading.Event()
    engine_ref = weakref.ref(engine)  # the thread keeps the engine's gate, not the engine
    gate = writer_gate(engine)
    started = threading.Lock()

    def run() -> None:
        restart_at = WAL_RESTART_PAGES
        while True:
            committed.wait()
            time.sleep(CHECKPOINT_DELAY_SECONDS)
            committed.clear()
            if engine_ref() is None:  # checked after the clear: the finalizer's wake-up is never lost
                return
            restart_at = _checkpoint(database, gate, restart_at)

    @event.listens_for(engine, "commit")
    def _on_commit(_connection: Any) -> None:
        committed.set()
        if started.acquire(blocking=False):  # the first commit starts the thread; the lock is never released
            threading.Thread(target=run, name="oligotrial-sqlite-checkpoint", daemon=True).start()

    weakref.finalize(engine, committed.set)  # wakes the thread to end


def _checkpoint(database: str, gate: WriterGate, restart_at: int) -> int:
    """One checkpoint of the SQLite database file ``database``; returns the WAL size (pages) at which the
    next one starts the WAL over. A failure is left to the next pass.

    Notes
    -----
    A ``PASSIVE`` checkpoint copies what it can and blocks no reader or writer (a writer may append to the
    WAL meanwhile). SQLite starts the WAL over only when a writer begins after a checkpoint has copied all of
    it and no reader is still in it; under steady load (issue 6's load run: reads and saves overlapping
    without a pause) that moment never comes, and the WAL grew by 5 MB a second, to 556 MB in 100 s. So once
    it holds ``restart_at`` pages or more, the pass takes the writer gate as an exclusive holder (no write
    transaction of any process is then open; writers queue behind it), and a ``TRUNCATE`` checkpoint copies
    the few pages written since, waits up to :data:`WAL_RESTART_WAIT_MS` for the readers still in the WAL
    (readers that begin meanwhile read the database file) and empties the WAL file. When the readers do not
    leave in time (a long read: an export, a backup), the restart is tried again once the WAL has grown by
    :data:`WAL_RESTART_PAGES` more (or, when SQLite has started it over meanwhile, has that many again).
    """
    try:
        # mode=rw: a database file removed meanwhile is not created again, empty
        connection = sqlite3.connect(
            f"file:{quote(database)}?mode=rw", uri=True, timeout=1.0, isolation_level=None
        )
    except sqlite3.Error:
        return restart_at
    try:
        _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if pages < WAL_RESTART_PAGES:
            return WAL_RESTART_PAGES
        if pages < restart_at - WAL_RESTART_PAGES:  # started over since the last attempt (by a writer)
            restart_at = WAL_RESTART_PAGES
        if pages < restart_at:
            return restart_at
        connection.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
        # its turn at the gate waited for no longer than the pause between two passes
        with gate.held(timeout=CHECKPOINT_DELAY_SECONDS, exclusive=True) as is_held:
            if not is_held:
                return restart_at
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return WAL_RESTART_PAGES if busy == 0 else pages + WAL_RESTART_PAGES
    except sqlite3.Error:
        return restart_at  # the database busy (another process's checkpoint), gone, or not in WAL mode yet
    finally:
        connection.close()


class WriterGate:
    """A first-come first-served lock for the write transactions of a process; re-entrant per thread.

    Parameters
    ----------
    lock_file
        For a SQLite database file: a file beside it whose exclusive ``flock`` the holder also takes, so that
        the writers of several processes (``serve --workers N``, a command run beside the server) queue in the
        kernel instead of polling SQLite's write lock. ``None`` (PostgreSQL, an in-memory database): the gate
        is the process's alone.

    Notes
    -----
    Every write transaction appends to the audit chain, so the database serializes them anyway (the chain
    head's row lock on PostgreSQL, the database write lock of ``BEGIN IMMEDIATE`` on SQLite). Left to the
    database, the waiting is unfair and wasteful: SQLite's busy handler polls with sleeps of up to 100 ms, so
    a writer that arrives just as the lock is released often overtakes one that has waited for seconds, and
    every waiting thread holds a pooled connection. Queuing in the process before the transaction begins
    makes the order first-come first-served, lets at most one transaction per process contend for the
    database lock, and leaves the database's own locking in place for writers of other processes (several
    server processes on one PostgreSQL database). A waiter is woken by the holder's release (no polling).

    With a ``lock_file`` (SQLite), the thread that gets the gate then waits for the file's lock, which the
    kernel hands over at once when the other process's holder releases it: the processes take turns without
    SQLite's busy handler, whose sleeps of up to 100 ms would otherwise stall one process's whole queue. The
    ``timeout`` bounds the wait for the gate within the process; the file lock is held by another process only
    for one write transaction.

    The kernel does not hand a released ``flock`` to the process that has waited longest: the releasing
    process, still running, usually takes it again before the waiting one is scheduled, and with a queue of
    its own it could keep it for many transactions in a row (waits of 40-90 ms measured at 330 saves/s over
    two processes, issue 6). So a process first lines up on a second file, ``<lock_file>.line``, and leaves
    the line once it holds the lock: a process that releases the lock and wants it again finds the line
    taken by the one already waiting, and takes its turn after it.
    """

    def __init__(self, lock_file: Path | None = None) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._exclusive: set[threading.Lock] = set()  # waiters that join no open transaction (``acquire``)
        self._owner: int | None = None
        self._depth = 0
        self._lock_file = lock_file
        # (process id, file descriptors of the line and of the lock file)
        self._descriptors: tuple[int, int, int] | None = None
        self._file_locked = False  # this process holds the lock file's lock (kept when the gate is passed on)

    def acquire(self, timeout: float, *, exclusive: bool = False) -> bool:
        """Wait at most ``timeout`` seconds for the gate; ``True`` when the calling thread holds it.

        An ``exclusive`` holder is never handed a transaction left open by :meth:`pass_on`: when it is next in
        line, ``pass_on`` refuses, so the holder commits and releases before the exclusive one goes on, with
        no write transaction of any process open (the SQLite checkpointer's restart of the WAL).
        """
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            waiter = None
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
            else:
                waiter = threading.Lock()
                waiter.acquire()
                self._waiters.append(waiter)
                if exclusive:
                    self._exclusive.add(waiter)
        if waiter is not None:
            handed = waiter.acquire(timeout=timeout)
            with self._mutex:
                self._exclusive.discard(waiter)
                if not handed and waiter in self._waiters:
                    self._waiters.remove(waiter)
                    return False
                # woken by a release (or released to us between the timeout and this check): the gate is ours
                self._owner, self._depth = me, 1
        return self._lock_across_processes()

    def _lock_across_processes(self) -> bool:
        """Take the lock file's ``flock`` for the gate's new holder (blocking; the GIL is released), unless
        the gate was passed on with it."""
        if self._lock_file is None or self._file_locked:
            return True
        try:
            line, lock = self._file_descriptors()
            fcntl.flock(line, fcntl.LOCK_EX)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._file_locked = True
            finally:
                fcntl.flock(line, fcntl.LOCK_UN)
        except BaseException:
            self._depth = 1
            self.release()
            raise
        return True

    def _file_descriptors(self) -> tuple[int, int]:
        """The line's and the lock file's descriptors, opened once per process (a descriptor inherited across
        fork shares its lock with the parent)."""
        assert self._lock_file is not None
        if self._descriptors is None or self._descriptors[0] != os.getpid():
            line = self._lock_file.with_name(self._lock_file.name + ".line")
            self._descriptors = (
                os.getpid(),
                os.open(line, os.O_RDWR | os.O_CREAT, 0o600),
                os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600),
            )
        return self._descriptors[1], self._descriptors[2]

    def release(self) -> None:
        """Release one level of the calling thread's hold; the next waiter in arrival order gets the gate."""
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("the writer gate is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if self._file_locked and self._descriptors is not None:
                fcntl.flock(self._descriptors[2], fcntl.LOCK_UN)
                self._file_locked = False
            self._owner = None
            if self._waiters:
                self._owner = -1  # handed over: nobody may barge in before the woken waiter takes it
                self._waiters.popleft().release()

    def is_held_here(self) -> bool:
        """Whether the calling thread holds the gate."""
        with self._mutex:
            return self._owner == threading.get_ident()

    def pass_on(self) -> bool:
        """Hand the gate to the next waiter of this process, keeping the lock file's lock for it.

        Returns ``False``, the caller still holding the gate, when nobody waits or the next in line is an
        exclusive holder (:meth:`acquire`). Group commit uses it: the next writer goes on in the same database
        transaction, which holds the database's write lock.
        """
        with self._mutex:
            if self._owner != threading.get_ident() or self._depth != 1:
                raise RuntimeError("the writer gate is passed on by a thread that does not hold it once")
            if not self._waiters or self._waiters[0] in self._exclusive:
                return False
            self._owner, self._depth = -1, 0
            self._waiters.popleft().release()
            return True

    @contextmanager
    def held(self, timeout: float, *, exclusive: bool = False) -> Iterator[bool]:
        """Hold the gate for the ``with`` block; yields ``False`` (without holding it) after ``timeout``."""
        if not self.acquire(timeout, exclusive=exclusive):
            yield False
            return
        try:
            yield True
        finally:
            self.release()


_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def writer_gate(engine: Engine) -> WriterGate:
    """The writer gate of ``engine`` (one per engine, shared by every service context on it).

    Notes
    -----
    For a SQLite database file the gate also locks ``<database>-writer.lock`` beside it (see
    :class:`WriterGate`), as SQLite itself keeps ``<database>-wal`` and ``<database>-shm`` there.
    """
    with _GATES_LOCK:
        gate = _GATES.get(engine)
        if gate is None:
            gate = _GATES[engine] = WriterGate(_sqlite_lock_file(engine))
        return gate


def _sqlite_lock_file(engine: Engine) -> Path | None:
    database = engine.url.database or ""
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return Path(database).expanduser().resolve().with_name(Path(database).name + "-writer.lock")
