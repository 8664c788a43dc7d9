"""Backup and restore under load (issue 12 item 6), on SQLite and on PostgreSQL.

``oligotrial backup`` (the real command, its own process) runs while clients write through the real server
(``oligotrial serve``). The backup is restored with ``oligotrial restore`` (in-process) into a fresh database,
which must
be a consistent snapshot: every write acknowledged before the backup started is in it, whole (each form
version with its audit entry, no half-written form), the randomization has no gap, the audit chain verifies
and is a prefix of the live database's chain.

A backup whose audit chain does not verify (one audit row of the file changed) is refused by ``oligotrial
restore``, naming the broken entry, and the target is left without any data: a later restore of a good
backup into it succeeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy
from sqlalchemy import select

from edc_fixtures import FAST_HASH_ENV, backup_table, edc_settings, read_backup_lines, write_backup_lines
from oligotrial.services import open_edc
from oligotrial.services.audit_trail import verify_audit
from oligotrial.store.tables import AuditEntry
from reliability._servers import Ledger, Server, check_database, prepare_writers, run_writers, wait_for

WRITERS = 4
ACKNOWLEDGED_BEFORE_BACKUP = 24  # the backup starts once this many writes were acknowledged (bounded wait)
WAIT_SECONDS = 60.0
REQUESTS_PER_WRITER = 2000  # an upper bound; the load is stopped after the backup
OK = {200, 201, 503}  # 503: a write waited too long for the lock; the client retries


def _oligotrial(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OLIGOTRIAL_ENV": "development", **FAST_HASH_ENV}
    return subprocess.run(
        [sys.executable, "-m", "oligotrial.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _fresh_database(backend: str, request, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def _snapshot(ledger: Ledger) -> Ledger:
    with ledger.lock:
        return Ledger(
            subjects=set(ledger.subjects),
            forms={form: dict(versions) for form, versions in ledger.forms.items()},
            randomized=dict(ledger.randomized),
        )


def _chain(url: str) -> list[tuple[int, str]]:
    edc = open_edc(edc_settings(url))
    try:
        with edc.engine.connect() as db:
            return [
                tuple(r) for r in db.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id))
            ]
    finally:
        edc.engine.dispose()


def test_backup_during_write_load_restores_a_consistent_snapshot(
    world, database_url, backend, request, tmp_path, run_cli
):
    writers = prepare_writers(world, WRITERS)
    ledger = Ledger()
    server = Server(database_url).start()
    backup_file = tmp_path / "under-load.json.gz"
    try:
        stop, threads = run_writers(server.base, writers, ledger, OK, REQUESTS_PER_WRITER)
        try:
            wait_for(lambda: ledger.acknowledged >= ACKNOWLEDGED_BEFORE_BACKUP, WAIT_SECONDS)
            before = _snapshot(ledger)
            during = ledger.acknowledged
            made = _oligotrial("backup", str(backup_file), "--database", database_url, "--json")
            after = ledger.acknowledged
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a writer hung"
        server.stop()
    finally:
        server.kill()
    assert made.returncode == 0, made.stderr
    print(f"acknowledged before the backup {during}, after it {after}; answers {dict(ledger.statuses)}")
    assert ledger.unexpected == [], ledger.unexpected[:10]
    assert before.acknowledged >= 1 and before.subjects and before.forms
    assert after > during, "no write was acknowledged while the backup ran: the test proved nothing"
    summary = json.loads(made.stdout)
    assert summary["audit_entries"] == summary["rows"]["audit_log"]

    target = _fresh_database(backend, request, tmp_path, "restored")
    restored = run_cli("restore", backup_file, "--database", target, "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["audit_entries_verified"] == summary["audit_entries"]

    edc = open_edc(edc_settings(target))
    try:
        assert check_database(edc, before) == []  # every write acknowledged before the backup, whole
        report = verify_audit(edc)
        assert report.is_intact and report.entries == summary["audit_entries"] + 1  # + the restore entry
    finally:
        edc.engine.dispose()
    live, copy = _chain(database_url), _chain(target)
    assert copy[:-1] == live[: len(copy) - 1]  # the snapshot is a prefix of the live chain
    assert len(live) > len(copy) - 1  # writes continued after the snapshot was taken


def test_restore_refuses_a_backup_whose_audit_chain_does_not_verify(
    world, backend, request, tmp_path, run_cli
):
    prepare_writers(world, count=1, queue=2)  # some audited writes to back up
    good = tmp_path / "good.json.gz"
    made = run_cli("backup", good, "--database", world.edc.engine.url.render_as_string(False), "--json")
    assert made.exit_code == 0, made.stderr
    lines = read_backup_lines(good)
    entries, columns = backup_table(lines, "audit_log")
    victim = dict(zip(columns, entries[len(entries) // 2], strict=True))
    entries[len(entries) // 2][columns.index("reason")] = "rewritten behind the application's back"
    bad = tmp_path / "tampered.json.gz"
    write_backup_lines(bad, lines)

    target = _fresh_database(backend, request, tmp_path, "target")
    refused = run_cli("restore", bad, "--database", target, "--json")
    assert refused.exit_code == 1, (refused.exit_code, refused.stdout, refused.stderr)
    problems = json.loads(refused.stdout)["error"]["problems"]
    assert problems[0]["field"] == f"audit_log[{victim['id']}]", problems
    assert problems[0]["code"].startswith("AUDIT-")
    assert f"audit_log[{victim['id']}]" in refused.stderr

    blank = sqlalchemy.create_engine(target)  # the target is left as found: a database without tables
    try:
        assert sqlalchemy.inspect(blank).get_table_names() == []
    finally:
        blank.dispose()
    accepted = run_cli("restore", good, "--database", target, "--json")
    assert accepted.exit_code == 0, accepted.stderr
    assert json.loads(accepted.stdout)["audit_entries_verified"] == len(entries)
