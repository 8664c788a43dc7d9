"""Prepared statements run on psycopg's libpq connection directly, for :mod:`oligotrial.store.prepared`.

psycopg's ``Cursor.execute`` spends about 60 microseconds of Python per statement on this project's machine
(the cursor and its transformer, the query's conversion from ``%(name)s`` placeholders, the prepared
statements' bookkeeping, the generator that drives the non-blocking protocol), twice what libpq itself costs
for a statement and its round trip. A form save and its read run six such statements on PostgreSQL (issue 6).
Here a statement compiled with ``$n`` placeholders is prepared once per connection under a name of its own
and then executed with libpq's blocking ``PQexecPrepared`` (which releases the GIL while it waits), its
parameters and rows converted by psycopg's own transformer with the connection's adapters, so that values
come back exactly as a cursor returns them.

What psycopg would do around a statement, and is done here the same way:

- a connection that is not in autocommit mode and not in a transaction first sends psycopg's ``BEGIN``,
  with the connection's isolation level, read-only and deferrable settings;
- parameters are sent as text, each of the type the server infers for it (SQLAlchemy's PostgreSQL
  compiler casts every bound parameter: ``$1::INTEGER``);
- an error result raises psycopg's exception for its SQLSTATE (``UniqueViolation`` ...), and a lost
  connection psycopg's ``OperationalError``, which :mod:`oligotrial.store.prepared` turns into SQLAlchemy's.

The prepared statements are those of the connection's session: a new connection prepares them again.
psycopg deallocates every statement of a session after a ``ROLLBACK`` once it has prepared statements of its
own, so the engine turns psycopg's automatic preparation off (:func:`oligotrial.store.engine.create_engine`);
should the statements be deallocated all the same, the statement fails (the transaction with it) and the
connection's statements are prepared again at their next use.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any, cast
from weakref import WeakKeyDictionary

from psycopg import Connection, errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq.abc import PGconn, PGresult

__all__ = ["LibpqStatement", "commit", "run_command"]

_IDLE = pq.TransactionStatus.IDLE
_BAD = pq.ConnStatus.BAD
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_TUPLES = pq.ExecStatus.TUPLES_OK
_TEXT = PyFormat.TEXT
_names = itertools.count(1)
_names_lock = threading.Lock()


class LibpqStatement:
    """A statement's SQL with ``$n`` placeholders and the name it is prepared under on every connection."""

    __slots__ = ("name", "sql")

    def __init__(self, sql: str) -> None:
        with _names_lock:
            self.name = f"_oligotrial_{next(_names)}".encode()
        self.sql = sql.encode()

    def execute(self, connection: Connection[Any], arguments: Sequence[Any]) -> list[tuple[Any, ...]] | None:
        """Run the statement with ``arguments`` (in placeholder order) on ``connection``: its rows, or
        ``None`` for a statement that returns none."""
        return _execute(connection, self, arguments)


class _Session:
    """What one driver connection keeps: its transformer and the names prepared on it."""

    __slots__ = ("prepared", "transformer")

    def __init__(self, connection: Connection[Any]) -> None:
        self.transformer = Transformer(connection)
        self.prepared: set[bytes] = set()


_sessions: WeakKeyDictionary[Connection[Any], _Session] = WeakKeyDictionary()
_begin_commands: dict[tuple[Any, ...], bytes] = {}


def _execute(
    connection: Connection[Any], statement: LibpqStatement, arguments: Sequence[Any]
) -> list[tuple[Any, ...]] | None:
    session = _sessions.get(connection)
    if session is None:
        session = _sessions[connection] = _Session(connection)
    pgconn = _begun(connection)
    if statement.name not in session.prepared:
        _checked(connection, pgconn.prepare(statement.name, statement.sql))
        session.prepared.add(statement.name)
    transformer = session.transformer
    # None is SQL NULL to libpq (psycopg's own calls pass it; its type hints leave it out)
    parameters = cast(Sequence[bytes], transformer.dump_sequence(arguments, [_TEXT] * len(arguments)))
    try:
        result = _checked(connection, pgconn.exec_prepared(statement.name, parameters))
    except errors.InvalidSqlStatementName:
        session.prepared.clear()  # deallocated behind this module's back: prepared again next time
        raise
    if result.status != _TUPLES:
        return None
    transformer.set_pgresult(result)
    rows: list[tuple[Any, ...]] = transformer.load_rows(0, result.ntuples, tuple)
    return rows


def run_command(connection: Connection[Any], command: bytes) -> None:
    """Run ``command``, a statement without parameters or rows (``SAVEPOINT name``), on ``connection`` as
    psycopg's cursor would: in the connection's transaction, begun first if need be."""
    _checked(connection, _begun(connection).exec_(command))


def commit(connection: Connection[Any]) -> None:
    """Commit ``connection``'s transaction, if it has one, as psycopg's ``Connection.commit`` does."""
    if connection.pgconn.transaction_status != _IDLE:
        _checked(connection, connection.pgconn.exec_(b"COMMIT"))


def _begun(connection: Connection[Any]) -> PGconn:
    """The connection's libpq connection, in a transaction unless the connection is in autocommit mode."""
    pgconn = connection.pgconn
    if not connection.autocommit and pgconn.transaction_status == _IDLE:
        _checked(connection, pgconn.exec_(_begin(connection)))
    return pgconn


def _checked(connection: Connection[Any], result: PGresult) -> PGresult:
    if result.status not in _OK:
        if connection.pgconn.status == _BAD:  # as psycopg's cursor says it
            message = (result.error_message or b"").decode(connection.info.encoding, "replace").strip()
            raise errors.OperationalError(f"consuming input failed: {message}")
        raise errors.error_from_result(result, encoding=connection.info.encoding)
    return result


def _begin(connection: Connection[Any]) -> bytes:
    """The ``BEGIN`` psycopg sends for the connection's transaction settings."""
    settings = (connection.isolation_level, connection.read_only, connection.deferrable)
    command = _begin_commands.get(settings)
    if command is None:
        isolation, read_only, deferrable = settings
        parts = ["BEGIN"]
        if isolation is not None:
            parts.append("ISOLATION LEVEL " + isolation.name.replace("_", " "))
        if read_only is not None:
            parts.append("READ ONLY" if read_only else "READ WRITE")
        if deferrable is not None:
            parts.append("DEFERRABLE" if deferrable else "NOT DEFERRABLE")
        command = _begin_commands[settings] = " ".join(parts).encode()
    return command
