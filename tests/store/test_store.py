"""Schema, engine settings and the audit chain: migrations match the models, SQLite pragmas, append-only
triggers, tamper detection naming each row, and chain correctness under concurrent writers."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from edc_fixtures import edc_settings
from oligotrial.services import Actor, data, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.services.audit_trail import verify_audit
from oligotrial.store import create_engine, upgrade_database
from oligotrial.store.migrate import current_revision, head_revision
from oligotrial.store.tables import Base


def test_migrations_create_exactly_the_model_schema(empty_database_url):
    engine = create_engine(empty_database_url)
    assert current_revision(engine) is None
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    upgrade_database(engine)  # idempotent
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/sub/dir/x.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_postgres_url_is_mapped_to_psycopg3():
    from oligotrial.store import normalize_database_url

    assert normalize_database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


def test_naive_datetimes_are_refused(edc):
    from sqlalchemy.orm import Session

    from oligotrial.store.tables import Site

    with Session(edc.engine) as session, pytest.raises(StatementError, match="naive"):
        session.add(
            Site(code="XX", name="x", is_active=True, next_subject_seq=1, created_at=datetime(2024, 1, 1))
        )
        session.flush()


def test_audit_rows_cannot_be_updated_or_deleted_through_sql(edc):
    with edc.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("UPDATE audit_log SET reason = 'x' WHERE id = 1"))
    with edc.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("DELETE FROM audit_log WHERE id = 1"))


def _drop_guards(edc):
    with edc.engine.begin() as connection:
        if edc.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))


@pytest.fixture
def populated(edc):
    from oligotrial.services import Role

    investigator = Actor(None, "system", "System", frozenset({(Role.INVESTIGATOR, None)}), "test")
    admin_services.create_site(edc, Actor.system("test"), "CN01", "Site 1")
    for _ in range(4):
        data.create_subject(edc, investigator, "CN01")
    report = verify_audit(edc)
    assert report.is_intact and report.entries >= 8
    return edc, report.entries


def test_tamper_change_delete_insert_are_each_named(populated, run_cli, database_url, monkeypatch):
    edc, n = populated
    _drop_guards(edc)
    with edc.engine.begin() as connection:
        connection.execute(text('UPDATE audit_log SET new_values = \'{"status":"enrolled"}\' WHERE id = 4'))
        connection.execute(text("DELETE FROM audit_log WHERE id = 6"))
        connection.execute(
            text(
                "INSERT INTO audit_log (id, at, actor_id, actor_username, action, table_name, record_id, site_id,"
                " old_values, new_values, reason, source, prev_hash, hash) SELECT :id, at, actor_id, 'mallory',"
                " action, table_name, 'X', site_id, old_values, new_values, reason, source, hash, hash"
                " FROM audit_log WHERE id = :last"
            ),
            {"id": n + 1, "last": n},
        )
    report = verify_audit(edc)
    found = {(p.code, p.field) for p in report.problems}
    assert found == {
        ("AUDIT-001", "audit_log[4]"),
        ("AUDIT-002", "audit_log[6]"),
        ("AUDIT-003", f"audit_log[{n + 1}]"),
    }
    monkeypatch.setenv("OLIGOTRIAL_ENV", "development")
    result = run_cli("audit", "verify", "--database", database_url, "--json")
    assert result.exit_code == 1
    assert {(p["code"], p["field"]) for p in result.json()["problems"]} == found
    text_result = run_cli("audit", "verify", "--database", database_url)
    assert "AUDIT-001 audit_log[4]: row changed" in text_result.stderr
    assert "AUDIT-002 audit_log[6]: row removed" in text_result.stderr
    assert f"AUDIT-003 audit_log[{n + 1}]: row inserted" in text_result.stderr


def test_tamper_removing_the_newest_rows_is_detected(populated):
    edc, n = populated
    _drop_guards(edc)
    with edc.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id >= :k"), {"k": n - 1})
    fields = [(p.code, p.field) for p in verify_audit(edc).problems]
    assert fields == [("AUDIT-002", f"audit_log[{n - 1}]"), ("AUDIT-002", f"audit_log[{n}]")]


def test_tamper_relinking_a_row_with_a_valid_own_hash_is_detected(populated):
    from oligotrial.store.audit import compute_entry_hash, entry_fields
    from oligotrial.store.tables import AuditEntry

    edc, _ = populated
    _drop_guards(edc)
    from sqlalchemy.orm import Session

    with Session(edc.engine) as session:
        row = session.get(AuditEntry, 3)
        row.prev_hash = "f" * 64
        row.hash = compute_entry_hash(entry_fields(row))
        session.commit()
    codes = {(p.code, p.field) for p in verify_audit(edc).problems}
    assert ("AUDIT-004", "audit_log[3]") in codes


def test_intact_chain_verifies_via_cli(populated, run_cli, database_url, monkeypatch):
    monkeypatch.setenv("OLIGOTRIAL_ENV", "development")
    result = run_cli("audit", "verify", "--database", database_url, "--json")
    assert result.exit_code == 0
    assert result.json()["intact"] is True


def test_concurrent_writers_keep_one_unbroken_chain(database_url):
    from oligotrial.services import Role

    edc = open_edc(edc_settings(database_url, db_pool_size=8))
    admin_services.create_site(edc, Actor.system("test"), "CN01", "Site 1")
    before = verify_audit(edc).entries
    investigator = Actor(None, "system", "System", frozenset({(Role.INVESTIGATOR, None)}), "test")
    errors = []

    def work():
        try:
            for _ in range(10):
                data.create_subject(edc, investigator, "CN01")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_audit(edc)
    assert report.is_intact
    assert report.entries == before + 80
    subjects, total = data.list_subjects(edc, investigator, limit=1000)
    assert total == 80
    assert sorted(s.code for s in subjects) == [f"CN01-{i:04d}" for i in range(1, 81)]
    edc.engine.dispose()


@pytest.mark.parametrize("count", [1, 70])
def test_entries_are_chained_in_one_statement_with_the_head_on_postgresql(edc, count):
    """On PostgreSQL the entries' insert and the head's move are one statement (a data-modifying WITH, the
    entries as one JSON array), whatever their number; on SQLite two. The chain is the same either way, text
    with quotes, backslashes and non-ASCII characters stored exactly (the hashes verify)."""
    from sqlalchemy import event

    from oligotrial.store.audit import audit_entry, chain_entries

    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        verb = statement.split(None, 1)[0]
        if verb != "BEGIN":  # SQLite's own BEGIN (transaction control is not counted)
            sent.append(verb + (" audit_log" if "audit_log" in statement else ""))

    before = verify_audit(edc)
    entries = [
        audit_entry(
            actor_id=None,
            actor_username="system",
            action="create",
            table_name="sites",
            record_id=n,
            site_id=n % 3 or None,
            old=None if n % 2 else {"note": 'a "quoted" \\ value'},
            new={"n": n, "名称": "中心 ü"},
            reason=None if n % 2 else "corrected: 'typo' \\ \"x\"",
            source="test",
        )
        for n in range(count)
    ]
    event.listen(edc.engine, "before_cursor_execute", record)
    try:
        with edc.engine.begin() as connection:
            chain_entries(connection, entries)
    finally:
        event.remove(edc.engine, "before_cursor_execute", record)
    if edc.dialect == "postgresql":
        assert sent == ["SELECT", "WITH audit_log"]
    else:
        assert sent == ["SELECT", "INSERT audit_log", "UPDATE"]
    after = verify_audit(edc)
    assert after.is_intact and after.entries == before.entries + count
    assert after.head_seq == before.head_seq + count
    with edc.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT record_id, site_id, old_values, new_values, reason FROM audit_log WHERE id > :seq ORDER BY id"
            ),
            {"seq": before.head_seq},
        ).all()
    assert [tuple(r) for r in stored] == [
        (str(n), e["site_id"], e["old_values"], e["new_values"], e["reason"]) for n, e in enumerate(entries)
    ]
