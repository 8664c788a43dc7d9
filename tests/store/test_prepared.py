"""Prepared statements (``store.prepared``): the same rows, values and errors as ``Connection.execute``, on
SQLite and PostgreSQL, without going through it (unless statement listeners are registered)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, event, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound

from oligotrial.services import Actor, Role, data
from oligotrial.services import admin as admin_services
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.auth import _TOKEN_ACTOR, authenticate, hash_token, login
from oligotrial.store import audit
from oligotrial.store.engine import SQLITE_BEGIN_OPTION
from oligotrial.store.prepared import Prepared, run_driver_sql
from oligotrial.store.tables import Site, Subject

PASSWORD = "prepared statements pass phrase"

_KEPT = Table("kept", MetaData(), Column("n", Integer))


@pytest.fixture
def saved(edc):
    """A site, a coordinator's token and a subject with one form saved twice (two versions)."""
    system = Actor.system("test")
    admin_services.create_site(edc, system, "P01", "Prepared site")
    admin_services.create_user(
        edc, system, "coordinator.p01", PASSWORD, "Coordinator", roles=[(Role.RESEARCH_COORDINATOR, "P01")]
    )
    token = login(edc, "coordinator.p01", PASSWORD, "test").access_token
    actor = authenticate(edc, token, "test")
    code = data.create_subject(edc, actor, "P01").code
    first = data.save_form(edc, actor, code, "V1", "VITALS", {"WEIGHT": 61.5, "NOTE": "中心 ü", "OK": True})
    form = data.save_form(
        edc, actor, code, "V1", "VITALS", {"WEIGHT": 62}, base_version=first.version, reason="corrected"
    )
    return {"token_hash": hash_token(token), "form_id": form.id, "code": code}


def _executed(connection, prepared, parameters):
    return [tuple(row) for row in connection.execute(prepared.statement, parameters)]


@pytest.mark.parametrize(
    "prepared",
    [
        _TOKEN_ACTOR,
        data._SUBJECT_WITH_TOKEN_CHECK,
        data._SUBJECT_KEY_BY_CODE,
        data._FORM_WITH_TOKEN_CHECK,
        data._FORM_BY_ID,
        audit._HEAD_FOR_UPDATE,
    ],
    ids=["token", "subject-with-token", "subject", "form-with-token", "form", "audit-head"],
)
def test_rows_and_their_values_are_those_of_connection_execute(edc, saved, prepared):
    """Every column converted as SQLAlchemy converts it: aware UTC times, JSON documents, booleans, dates."""
    with edc.engine.connect() as connection:
        rows = prepared.all(connection, saved)
        expected = _executed(connection, prepared, saved)
        assert rows == expected and len(rows) >= 1
        assert [[type(v) for v in row] for row in rows] == [[type(v) for v in row] for row in expected]
        assert prepared.first(connection, saved) == expected[0]
    if prepared is data._FORM_BY_ID:
        assert rows[0][7] == {"WEIGHT": 62} and rows[0][6] == 2  # item values (JSON), version
    if prepared is _TOKEN_ACTOR:
        assert rows[0][1].tzinfo is not None and rows[0][1] > datetime.now(UTC)  # the token's expiry


def test_nothing_found_is_no_row(edc, saved):
    with edc.engine.connect() as connection:
        assert data._FORM_BY_ID.all(connection, {"form_id": saved["form_id"] + 1000}) == []
        assert data._FORM_BY_ID.first(connection, {"form_id": saved["form_id"] + 1000}) is None
        with pytest.raises(NoResultFound):
            data._FORM_BY_ID.one(connection, {"form_id": saved["form_id"] + 1000})


def test_statements_run_on_the_cursor_unless_statement_listeners_are_registered(edc, saved):
    """Without cursor-level listeners nothing of ``Connection.execute`` runs; with one (SQL tracing,
    telemetry) the statement goes through it, so that the listener sees it."""
    executed: list[object] = []
    cursor_statements: list[str] = []

    def on_execute(connection, clauseelement, *args):
        executed.append(clauseelement)

    def on_cursor(connection, cursor, statement, parameters, context, executemany):
        cursor_statements.append(statement)

    event.listen(edc.engine, "before_execute", on_execute)
    try:
        with edc.engine.connect() as connection:
            plain = data._FORM_BY_ID.all(connection, saved)
            assert executed == []
            event.listen(edc.engine, "before_cursor_execute", on_cursor)
            try:
                traced = data._FORM_BY_ID.all(connection, saved)
            finally:
                event.remove(edc.engine, "before_cursor_execute", on_cursor)
    finally:
        event.remove(edc.engine, "before_execute", on_execute)
    assert plain == traced
    assert executed == [data._FORM_BY_ID.statement]
    assert [s.split(None, 1)[0] for s in cursor_statements] == ["SELECT"]


def test_a_sequence_of_parameter_sets_runs_once_per_set_with_values_bound_in_the_statement(edc):
    """``executemany``; a value written into the statement (``is_active`` here) is bound as SQLAlchemy
    binds it, beside the given ones."""
    statement = Prepared(
        insert(Site).values(
            code=bindparam("code"),
            name=bindparam("name"),
            created_at=bindparam("created_at"),
            is_active=False,
            next_subject_seq=1,
            time_zone="UTC",
        )
    )
    with edc.engine.begin() as connection:
        now = datetime.now(UTC)
        statement.run(
            connection,
            [
                {"code": "M01", "name": "Many one", "created_at": now},
                {"code": "M02", "name": "Many two", "created_at": now},
            ],
        )
    with edc.engine.connect() as connection:
        rows = connection.execute(
            select(Site.code, Site.name, Site.is_active)
            .where(Site.code.in_(["M01", "M02"]))
            .order_by(Site.code)
        ).all()
    assert [tuple(r) for r in rows] == [("M01", "Many one", False), ("M02", "Many two", False)]


def test_a_driver_error_is_sqlalchemys_and_nothing_of_the_transaction_stays(edc, saved):
    """A duplicate audit position: SQLAlchemy's ``IntegrityError`` (which the services answer 409), the
    transaction rolled back, the chain intact."""
    before = verify_audit(edc)
    with edc.engine.connect() as connection:
        connection.begin()
        head_seq, head_hash = audit._HEAD_FOR_UPDATE.one(connection)
        row = {
            "id": head_seq,  # taken
            "at": datetime.now(UTC),
            "actor_id": None,
            "actor_username": "system",
            "action": "create",
            "table_name": "sites",
            "record_id": "1",
            "site_id": None,
            "old_values": None,
            "new_values": "{}",
            "reason": None,
            "source": "test",
            "prev_hash": head_hash,
            "hash": head_hash,
        }
        with pytest.raises(IntegrityError) as refused:
            audit._INSERT_ENTRY.run(connection, [row])
        assert refused.value.orig is not None and refused.value.statement is not None
        connection.rollback()
    after = verify_audit(edc)
    assert after.is_intact and after.entries == before.entries


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        (insert(Site).values(code=bindparam("code"), name=bindparam("name")), "Python-side column defaults"),
        (select(Subject.id).where(Subject.code.in_(bindparam("codes", expanding=True))), "expanding"),
    ],
    ids=["python-defaults", "expanding-in"],
)
def test_what_it_cannot_run_as_sqlalchemy_would_is_refused(edc, statement, refusal):
    with edc.engine.connect() as connection, pytest.raises(ValueError, match=refusal):
        Prepared(statement).all(connection, {"code": "X", "name": "x", "codes": ["A"]})


def test_driver_sql_runs_on_the_cursor_and_its_errors_are_sqlalchemys(edc):
    """``run_driver_sql`` (the SQLite engine's ``BEGIN``) raises what ``exec_driver_sql`` would raise."""
    with edc.engine.connect() as connection:
        run_driver_sql(connection, "SELECT 1")
        with pytest.raises(DBAPIError) as info:
            run_driver_sql(connection, "NOT A STATEMENT")
        assert "NOT A STATEMENT" in str(info.value) and not info.value.connection_invalidated


def test_a_begin_is_seen_by_statement_listeners(edc):
    """The ``BEGIN`` of a SQLite transaction runs on the driver's cursor; a cursor listener still sees it. On
    PostgreSQL the driver begins by itself (the SQLite option changes nothing there): no statement."""
    statements: list[str] = []

    def on_cursor(connection, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with edc.engine.connect() as connection:
        connection.begin()
        connection.rollback()
        assert statements == []
        event.listen(edc.engine, "before_cursor_execute", on_cursor)
        try:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).begin()
            connection.rollback()
        finally:
            event.remove(edc.engine, "before_cursor_execute", on_cursor)
    assert statements == (["BEGIN IMMEDIATE"] if edc.dialect == "sqlite" else [])


def _session_statements(connection) -> dict[str, str]:
    """The connection's prepared statements: name -> SQL."""
    rows = connection.exec_driver_sql("SELECT name, statement FROM pg_prepared_statements")
    return {name: sql for name, sql in rows}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_statements_are_prepared_once_per_connection_in_psycopgs_transaction(edc, saved):
    """On PostgreSQL a statement is prepared under a name of its own on each connection that runs it, and
    the transaction it begins is psycopg's (the connection's isolation level), so that commit and rollback
    work as usual."""
    with edc.engine.connect() as connection:
        connection.begin()
        rows = data._FORM_BY_ID.all(connection, saved)
        names = _session_statements(connection)
        assert all(name.startswith("_oligotrial_") for name in names)  # none of psycopg's own
        assert data._FORM_BY_ID._compiled["postgresql"].sql in names.values()
        assert connection.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
        connection.rollback()
        assert data._FORM_BY_ID.all(connection, saved) == rows  # still prepared after the rollback
        assert _session_statements(connection) == names
        connection.rollback()
    repeatable = edc.engine.execution_options(isolation_level="REPEATABLE READ")
    with repeatable.connect() as connection:
        connection.begin()
        assert data._FORM_BY_ID.all(connection, saved) == rows
        assert connection.exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"
        connection.rollback()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_statements_deallocated_behind_its_back_fail_once_then_are_prepared_again(edc, saved):
    """``DEALLOCATE ALL`` (a pooler's reset, psycopg's own after a rollback if it prepared statements): the
    next statement fails with SQLAlchemy's error, its transaction with it, and the one after works."""
    with edc.engine.connect() as connection:
        expected = data._FORM_BY_ID.all(connection, saved)
        connection.commit()
        connection.exec_driver_sql("DEALLOCATE ALL")
        connection.commit()
        with pytest.raises(DBAPIError, match="does not exist") as refused:
            data._FORM_BY_ID.all(connection, saved)
        assert not refused.value.connection_invalidated
        connection.rollback()
        assert data._FORM_BY_ID.all(connection, saved) == expected
        connection.rollback()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_a_lost_connection_is_sqlalchemys_error_and_invalidated(edc, saved):
    """The server ends the session (a restart, an administrator): SQLAlchemy's error says the connection was
    invalidated, and the next connection from the pool works."""
    with edc.engine.connect() as connection:
        expected = data._FORM_BY_ID.all(connection, saved)
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        connection.commit()
        with edc.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            other.commit()
        with pytest.raises(DBAPIError) as lost:
            data._FORM_BY_ID.all(connection, saved)
        assert lost.value.connection_invalidated
    with edc.engine.connect() as connection:
        assert data._FORM_BY_ID.all(connection, saved) == expected


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_savepoints_and_commits_run_on_libpq_with_their_usual_effects(edc, monkeypatch):
    """SAVEPOINT, ROLLBACK TO SAVEPOINT, RELEASE SAVEPOINT and COMMIT go to libpq, not psycopg's cursor or
    its ``commit``; a savepoint rolled back undoes its own changes only, one released keeps them, and the
    commit stores what is left."""
    import psycopg

    def refused(*args, **kwargs):
        raise AssertionError("psycopg's cursor or commit used for a transaction command")

    with edc.engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE kept (n INTEGER)")
        connection.commit()
        monkeypatch.setattr(psycopg.Connection, "cursor", refused)
        monkeypatch.setattr(psycopg.Connection, "commit", refused)
        connection.begin()
        rows = Prepared(insert(_KEPT))
        rows.run(connection, {"n": 1})
        undone = connection.begin_nested()
        rows.run(connection, {"n": 2})
        undone.rollback()
        released = connection.begin_nested()
        rows.run(connection, {"n": 3})
        released.commit()  # RELEASE SAVEPOINT
        connection.commit()
        monkeypatch.undo()
        assert sorted(n for (n,) in connection.exec_driver_sql("SELECT n FROM kept")) == [1, 3]
        connection.rollback()
    with edc.engine.connect() as other:  # committed, not only visible in its own session
        assert sorted(n for (n,) in other.exec_driver_sql("SELECT n FROM kept")) == [1, 3]
        other.exec_driver_sql("DROP TABLE kept")
        other.commit()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_a_failed_commit_and_a_failed_savepoint_are_sqlalchemys_errors(edc):
    """A constraint checked at commit: SQLAlchemy's ``IntegrityError`` from ``commit``, nothing stored. A
    savepoint in a failed transaction: SQLAlchemy's error naming the command, the connection still usable
    after its rollback."""
    with edc.engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql(
            "CREATE TABLE child (parent_id INTEGER REFERENCES parent DEFERRABLE INITIALLY DEFERRED)"
        )
        connection.commit()
        try:
            connection.exec_driver_sql("INSERT INTO child VALUES (1)")  # no parent 1: refused at commit
            with pytest.raises(IntegrityError, match="foreign key"):
                connection.commit()
            connection.rollback()  # as SQLAlchemy requires after a failed commit
            assert connection.exec_driver_sql("SELECT count(*) FROM child").scalar() == 0
            connection.rollback()
            with pytest.raises(DBAPIError, match="NOT A STATEMENT"):
                connection.exec_driver_sql("NOT A STATEMENT")
            with pytest.raises(DBAPIError, match="SAVEPOINT") as failed:
                connection.begin_nested()
            assert not failed.value.connection_invalidated
            connection.rollback()
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
        finally:
            connection.rollback()
            connection.exec_driver_sql("DROP TABLE child, parent")
            connection.commit()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_psycopg_a_savepoint_is_seen_by_statement_listeners(edc):
    statements: list[str] = []

    def on_cursor(connection, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with edc.engine.connect() as connection:
        connection.begin()
        event.listen(edc.engine, "before_cursor_execute", on_cursor)
        try:
            connection.begin_nested().rollback()
        finally:
            event.remove(edc.engine, "before_cursor_execute", on_cursor)
        connection.rollback()
    assert statements == ["SAVEPOINT sa_savepoint_1", "ROLLBACK TO SAVEPOINT sa_savepoint_1"]
