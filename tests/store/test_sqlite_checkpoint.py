"""SQLite's WAL is copied into the database file by the engine's background checkpointer, never by a commit, and
started over before it grows without bound (``store.engine._checkpoint_in_background``, ``_checkpoint``)."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from edc_fixtures import held_elsewhere
from oligotrial.store import engine as engine_module
from oligotrial.store.engine import SQLITE_BEGIN_OPTION, WriterGate, _checkpoint, create_engine, writer_gate

WAIT_SECONDS = 60.0  # a generous bound for a background pass on a loaded machine; not a speed requirement


def _in_database_file(path: Path) -> int:
    """Rows of ``t`` in the database file itself, the WAL ignored (what a checkpoint has copied); -1 while
    the file reads as inconsistent (``immutable`` takes no lock, so it may read a pass's copying midway)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table not checkpointed yet
        return 0
    except sqlite3.DatabaseError:
        return -1
    finally:
        connection.close()


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "oligotrial-sqlite-checkpoint"]


def test_commits_do_not_checkpoint_and_the_background_pass_does(tmp_path):
    path = tmp_path / "trial.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        connection.execute(text("CREATE TABLE t (x INTEGER, padding TEXT)"))
        connection.commit()
        for n in range(3000):  # some 2,000 pages of WAL: SQLite's own setting would checkpoint at 1,000
            connection.execute(text("INSERT INTO t VALUES (:x, :p)"), {"x": n, "p": "x" * 2000})
            connection.commit()
    _until(lambda: _in_database_file(path) == 3000, "the committed rows never reached the database file")
    engine.dispose()


def test_the_checkpointer_ends_with_its_engine_and_skips_a_removed_database(tmp_path):
    before = set(_checkpointers())
    path = tmp_path / "trial.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
    (started,) = set(_checkpointers()) - before
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    del engine, connection
    gc.collect()
    started.join(WAIT_SECONDS)
    assert not started.is_alive()
    assert not path.exists()  # its last pass did not create the database again, empty


def test_an_engine_that_never_commits_starts_no_thread(tmp_path):
    before = set(_checkpointers())
    engine = create_engine(f"sqlite:///{tmp_path / 'trial.db'}")
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert set(_checkpointers()) == before
    engine.dispose()


RESTART_PAGES = 100  # the tests' threshold: a few hundred small commits pass it


def _database_in_wal_mode(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")  # as the engine's connections: only _checkpoint copies
    connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER, padding TEXT)")
    return connection


def _commit_rows(connection: sqlite3.Connection, rows: int) -> None:
    for _ in range(rows):  # one commit each: at least one WAL page each
        connection.execute("INSERT INTO t VALUES (1, ?)", ("x" * 500,))


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_long_wal_is_started_over_once_its_readers_have_left(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "WAL_RESTART_PAGES", RESTART_PAGES)
    path = tmp_path / "trial.db"
    writer = _database_in_wal_mode(path)
    _commit_rows(writer, 300)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (300,)  # a read in the WAL, left open
    gate = WriterGate()

    restart_at = _checkpoint(str(path), gate, RESTART_PAGES)
    assert restart_at > 300 + RESTART_PAGES  # not started over: tried again once the WAL has grown this much
    assert _wal_bytes(path) > 0
    assert gate._owner is None  # the gate was held for the attempt only
    reader.execute("COMMIT")
    assert _checkpoint(str(path), gate, restart_at) == restart_at  # not grown enough yet: no attempt
    assert _wal_bytes(path) > 0

    _commit_rows(writer, RESTART_PAGES + 10)  # SQLite starts the copied WAL over itself: no reader is left
    assert _checkpoint(str(path), gate, restart_at) == RESTART_PAGES  # and the back-off ends with it
    assert _wal_bytes(path) == 0  # started over and emptied
    assert _in_database_file(path) == 410  # every commit copied into the database file first
    _commit_rows(writer, 5)  # the WAL is written again from its start
    assert 0 < _wal_bytes(path) < 50 * 4096
    assert writer.execute("SELECT count(*) FROM t").fetchone() == (415,)
    writer.close()
    reader.close()


def test_a_wal_under_the_threshold_is_copied_and_left_in_place(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "WAL_RESTART_PAGES", RESTART_PAGES)
    path = tmp_path / "trial.db"
    writer = _database_in_wal_mode(path)
    _commit_rows(writer, 20)
    gate = WriterGate()
    with held_elsewhere(gate):  # a restart would wait for its turn; a pass under the threshold does not
        assert _checkpoint(str(path), gate, RESTART_PAGES) == RESTART_PAGES
    assert _in_database_file(path) == 20
    assert _wal_bytes(path) > 0
    writer.close()


def test_the_restart_waits_its_turn_at_the_writer_gate_and_gives_up_after_a_pause(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "WAL_RESTART_PAGES", RESTART_PAGES)
    monkeypatch.setattr(engine_module, "CHECKPOINT_DELAY_SECONDS", 0.05)
    path = tmp_path / "trial.db"
    writer = _database_in_wal_mode(path)
    _commit_rows(writer, 300)
    gate = WriterGate()
    with held_elsewhere(gate):
        assert _checkpoint(str(path), gate, RESTART_PAGES) == RESTART_PAGES  # gave up; tried at the next pass
        assert _wal_bytes(path) > 0
        assert not gate._waiters and not gate._exclusive
    assert _checkpoint(str(path), gate, RESTART_PAGES) == RESTART_PAGES
    assert _wal_bytes(path) == 0
    writer.close()


def test_the_wal_stays_bounded_under_reads_and_writes_without_a_pause(tmp_path, monkeypatch):
    """Issue 6's load, small: reads overlap without a pause while a writer commits through the writer gate.
    A ``PASSIVE`` checkpoint alone never finds the moment to start the WAL over (it grew to 556 MB in 100 s of
    the load run); with the restart it stays near the threshold."""
    monkeypatch.setattr(engine_module, "WAL_RESTART_PAGES", RESTART_PAGES)
    monkeypatch.setattr(engine_module, "CHECKPOINT_DELAY_SECONDS", 0.02)
    path = tmp_path / "trial.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER, padding TEXT)"))
    stop = threading.Event()
    errors: list[BaseException] = []

    def read(offset: float) -> None:
        time.sleep(offset)
        try:
            while not stop.is_set():
                with engine.connect() as connection:  # a read transaction of a few milliseconds
                    connection.execute(text("SELECT count(*) FROM t")).scalar()
                    time.sleep(0.004)
                    connection.rollback()
        except BaseException as error:  # reported by the test
            errors.append(error)

    # two readers half a read apart: one of them is nearly always in a read transaction
    threads = [threading.Thread(target=read, args=(offset,)) for offset in (0.0, 0.002)]
    for thread in threads:
        thread.start()
    gate, largest, rows = writer_gate(engine), 0, 6000
    try:
        for n in range(rows):
            with gate.held(timeout=30) as is_held:
                assert is_held
                with engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) as connection:
                    connection.begin()
                    connection.execute(text("INSERT INTO t VALUES (:x, :p)"), {"x": n, "p": "x" * 500})
                    connection.commit()
            largest = max(largest, _wal_bytes(path))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors
    # without the restart the WAL holds every commit's pages, more than 6,000 (24 MB; 31.8 MB measured); with it,
    # the threshold and what is written between two passes (about 2 MB measured)
    assert largest < 2000 * 4096, f"the WAL grew to {largest:,} bytes"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == rows
    engine.dispose()
