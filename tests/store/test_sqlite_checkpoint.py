"""SQLite's WAL is copied into the database file by the engine's background checkpointer, never by a commit
(``store.engine._checkpoint_in_background``)."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from oligotrial.store.engine import create_engine

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
