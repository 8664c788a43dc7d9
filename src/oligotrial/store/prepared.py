"""Statements of the busiest use cases, compiled once per database dialect and run on the driver's cursor.

SQLAlchemy's ``Connection.execute`` spends about a hundred microseconds of Python on each statement before and
after the driver's own work (the compiled cache's key, an execution context, the result's metadata, event
dispatch), several times what the driver and an indexed lookup cost. A form save and its read run about ten
statements, so that overhead was about a fifth of the server's processor time under load (issue 6). A
:class:`Prepared` statement is the same SQLAlchemy Core statement, compiled by SQLAlchemy for the connection's
dialect the first time it runs there; each execution then converts the parameters and the result columns with
the types' own processors (the same conversions ``Connection.execute`` applies) and runs the SQL on the
cursor of the connection's driver connection, inside the connection's transaction; on PostgreSQL, on
psycopg's libpq connection itself, as a statement prepared once per connection
(:mod:`oligotrial.store._libpq`: without psycopg's cursor machinery, a save and its read take a fifth fewer
instructions there). Driver errors come out as SQLAlchemy's (``IntegrityError``, ``OperationalError`` ...),
a lost connection invalidated, as from ``Connection.execute``. When listeners of cursor executions are
registered on the engine (SQL tracing, telemetry), the statement goes through ``Connection.execute`` instead,
so that they see it as usual; the engine's ``echo`` log, which is not a listener, does not show prepared
statements.

What it does not do, and refuses at compilation rather than get wrong: Python-side column defaults
(``default=``/``onupdate=`` that SQLAlchemy would fill in), expanding ``IN`` parameters and escaped
parameter names. Its statements are module constants; ad-hoc statements go through ``Connection.execute``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound, StatementError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import Select

if TYPE_CHECKING:
    from oligotrial.store._libpq import LibpqStatement

__all__ = ["Prepared", "run_driver_sql"]

Processor = Callable[[Any], Any] | None
Statement = TypeVar("Statement", bound=Executable)


@dataclass(frozen=True)
class _Compiled:
    """A statement as one dialect runs it."""

    sql: str
    names: tuple[str, ...]  # the bound parameters, in the driver's order when its style is positional
    values: Mapping[str, Any]  # values bound in the statement itself (``where(id == 1)``)
    bind: tuple[Processor, ...]  # per name
    result: tuple[Processor, ...] | None  # per selected column; ``None`` when no column needs one
    positional: bool
    libpq: LibpqStatement | None  # psycopg: run on its libpq connection (``sql`` with ``$n`` placeholders)


class Prepared(Generic[Statement]):
    """A Core statement run on the driver's cursor with the conversions SQLAlchemy would apply (see the
    module); compiled on first use per dialect."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def all(
        self, connection: Connection, parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The statement's rows, each a tuple of its selected columns."""
        if _is_traced(connection):
            return [tuple(row) for row in connection.execute(self.statement, parameters)]
        compiled = self._for(connection.dialect)
        rows = self._execute(connection, compiled, parameters or {}) or ()
        result = compiled.result
        if result is None:
            return [tuple(row) for row in rows]
        return [tuple(v if p is None else p(v) for p, v in zip(result, row, strict=True)) for row in rows]

    def first(
        self, connection: Connection, parameters: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        """The statement's first row, or ``None`` when it has none."""
        rows = self.all(connection, parameters)
        return rows[0] if rows else None

    def one(self, connection: Connection, parameters: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """The statement's only row (else SQLAlchemy's ``NoResultFound`` or ``MultipleResultsFound``)."""
        rows = self.all(connection, parameters)
        if len(rows) != 1:
            if rows:
                raise MultipleResultsFound("Multiple rows were found when exactly one was required")
            raise NoResultFound("No row was found when one was required")
        return rows[0]

    def run(
        self, connection: Connection, parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Run a statement that returns no rows; a sequence of parameter sets runs it once per set (the
        driver's ``executemany``)."""
        many = not isinstance(parameters, Mapping)
        if _is_traced(connection):
            connection.execute(self.statement, cast(Any, parameters))
            return
        self._execute(connection, self._for(connection.dialect), parameters, many=many)

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(dialect.name) or _compile(self.statement, dialect)
                self._compiled[dialect.name] = compiled
        return compiled

    def _execute(
        self, connection: Connection, compiled: _Compiled, parameters: Any, *, many: bool = False
    ) -> Sequence[Sequence[Any]] | None:
        """The driver's rows (``None`` for a statement without rows, or run once per parameter set)."""
        if not connection.in_transaction():
            connection.begin()  # as Connection.execute would (its autobegin)
        driver_connection = connection.connection.dbapi_connection
        assert driver_connection is not None  # an open connection has one
        arguments = (
            [_arguments(compiled, p) for p in parameters] if many else _arguments(compiled, parameters)
        )
        if compiled.libpq is not None:
            try:
                if many:
                    for one_set in arguments:
                        compiled.libpq.execute(cast(Any, driver_connection), one_set)
                    return None
                return compiled.libpq.execute(cast(Any, driver_connection), arguments)
            except connection.dialect.loaded_dbapi.Error as error:
                raise _wrapped(connection, None, error, compiled.sql, arguments, many=many) from error
        cursor = driver_connection.cursor()
        try:
            if many:
                cursor.executemany(compiled.sql, arguments)
                return None
            cursor.execute(compiled.sql, arguments)
            return cursor.fetchall() if cursor.description is not None else None
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, cursor, error, compiled.sql, arguments, many=many) from error
        finally:
            cursor.close()


def run_driver_sql(connection: Connection, sql: str) -> None:
    """Run ``sql``, a statement without parameters or result (``BEGIN IMMEDIATE``, ``SAVEPOINT name``), on
    the connection's driver cursor as :class:`Prepared` runs its statements (on psycopg's libpq connection),
    but without SQLAlchemy beginning a transaction first (for the engine's ``begin`` event; the driver's own
    implicit ``BEGIN`` is sent as its cursor sends it): driver errors come out as SQLAlchemy's, a lost
    connection invalidated; through ``Connection.exec_driver_sql`` when cursor listeners are registered."""
    if _is_traced(connection):
        connection.exec_driver_sql(sql)
        return
    driver_connection = connection.connection.dbapi_connection
    assert driver_connection is not None  # an open connection has one
    if _on_libpq(connection.dialect):
        from oligotrial.store._libpq import run_command

        try:
            run_command(cast(Any, driver_connection), sql.encode())
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, None, error, sql, ()) from error
        return
    cursor = driver_connection.cursor()
    try:
        cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, cursor, error, sql, ()) from error
    finally:
        cursor.close()


def _wrapped(
    connection: Connection, cursor: Any, error: Any, sql: str, arguments: Any, *, many: bool = False
) -> StatementError:
    """The driver's ``error`` as SQLAlchemy's (``OperationalError`` ...), as ``Connection.execute`` raises it;
    the connection invalidated when the error says it is lost (``cursor``: the statement's, if any)."""
    dialect = connection.dialect
    driver_connection = connection.connection.dbapi_connection
    is_disconnect = dialect.is_disconnect(error, driver_connection, cursor)
    if is_disconnect:
        connection.invalidate(error)
    wrapped: StatementError = DBAPIError.instance(
        sql,
        arguments,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=is_disconnect,
        dialect=dialect,
        ismulti=many,
    )
    return wrapped


def _is_traced(connection: Connection) -> bool:
    """Whether listeners of the connection's statements are registered (SQL tracing, telemetry): those see
    every statement through ``Connection.execute``, as registered."""
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _arguments(compiled: _Compiled, parameters: Mapping[str, Any]) -> Any:
    """The driver's arguments: a list in the statement's order (positional styles) or a mapping."""
    values = compiled.values
    converted = []
    for name, processor in zip(compiled.names, compiled.bind, strict=True):
        value = parameters[name] if name in parameters else values[name]
        converted.append(value if processor is None else processor(value))
    if compiled.positional:
        return converted
    return dict(zip(compiled.names, converted, strict=True))


def _on_libpq(dialect: Dialect) -> bool:
    """Whether statements run on psycopg's libpq connection (:mod:`oligotrial.store._libpq`)."""
    return dialect.driver == "psycopg" and not dialect.is_async


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    on_libpq = _on_libpq(dialect)
    if on_libpq:
        from oligotrial.store._libpq import LibpqStatement  # psycopg imported with its dialect
    # on psycopg's libpq connection: ``$n`` placeholders (the dialect's own compiler, its casts included)
    compiler_dialect = _numeric_dollar(dialect) if on_libpq else dialect
    compiled = cast(ClauseElement, statement).compile(dialect=compiler_dialect)
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError(f"a statement with Python-side column defaults cannot be prepared: {compiled}")
    if compiled.escaped_bind_names or any(b.expanding or b.literal_execute for b in compiled.binds.values()):
        raise ValueError(f"a statement with expanding or escaped parameters cannot be prepared: {compiled}")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}  # as named in the SQL
    # the driver's order (``?`` or ``$n`` placeholders), else any: the driver takes a mapping
    positional = compiler_dialect.positional
    names = tuple(compiled.positiontup or ()) if positional else tuple(by_name)
    values = {name: b.effective_value for name, b in by_name.items() if not b.required}
    bind = tuple(by_name[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    columns = statement.selected_columns if isinstance(statement, Select) else ()
    result = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Compiled(
        compiled.string,
        names,
        values,
        bind,
        result if any(result) else None,
        positional,
        LibpqStatement(compiled.string) if on_libpq else None,
    )


def _numeric_dollar(dialect: Dialect) -> Dialect:
    """A dialect like ``dialect`` (same class and server version) that compiles ``$n`` placeholders."""
    numbered = type(dialect)(paramstyle="numeric_dollar")  # type: ignore[call-arg]
    numbered.server_version_info = dialect.server_version_info
    return numbered
