"""Group commit (``services._context``): write use cases queued in one process share one database transaction,
each in its own savepoint, on SQLite and PostgreSQL. A refused use case leaves the others; a failed commit fails
them all and stores nothing; every acknowledged write is stored and audited once, in an unbroken chain."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from oligotrial.errors import ConflictError, ServiceUnavailableError
from oligotrial.services import Actor, data
from oligotrial.services.audit_trail import read_audit, verify_audit
from oligotrial.store.engine import writer_gate

CRC = "researchcoordinator.cn01"


def _queue_behind_a_held_gate(world, writers):
    """Start the writers while another thread holds the writer gate, release it once all of them wait; returns
    each writer's outcome (its view or the error raised) in the writers' order."""
    gate = writer_gate(world.edc.engine)
    outcomes: list[object] = [None] * len(writers)

    def run(n: int) -> None:
        try:
            outcomes[n] = writers[n]()
        except Exception as exc:  # reported by the test
            outcomes[n] = exc

    assert gate.acquire(timeout=10)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(writers))]
    try:
        for n, thread in enumerate(threads):  # one at a time: the queue's order is the writers' order
            thread.start()
            deadline = time.monotonic() + 30
            while len(gate._waiters) < n + 1:
                assert time.monotonic() < deadline, "the writers did not queue"
                time.sleep(0.001)
    finally:
        gate.release()
    for thread in threads:
        thread.join(60)
    return outcomes


def _count_commits(engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    return commits


@pytest.mark.parametrize(
    "refused", [0, 2]
)  # the batch's first use case (no savepoint), a later one (savepoint)
def test_queued_writes_share_one_commit_and_a_refused_one_leaves_the_others(world, refused):
    crc = world.actor(CRC)
    codes = [data.create_subject(world.edc, crc, "CN01").code for _ in range(4)]
    data.save_form(world.edc, crc, codes[refused], "BASELINE", "VITALS", {"WEIGHT": 50})
    before = verify_audit(world.edc).head_seq
    commits = _count_commits(world.edc.engine)

    def first_entry(code: str, weight: int):
        return lambda: data.save_form(world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": weight})

    def stale_change():  # version 1 is current: base version 7 is refused with 409
        return data.save_form(
            world.edc, crc, codes[refused], "BASELINE", "VITALS", {"WEIGHT": 51}, base_version=7, reason="x"
        )

    writers = [first_entry(code, 60 + n) for n, code in enumerate(codes)]
    writers[refused] = stale_change
    outcomes = _queue_behind_a_held_gate(world, writers)
    assert isinstance(outcomes[refused], ConflictError)
    assert outcomes[refused].problems[0].code == "EDC-023"
    assert [o.version for n, o in enumerate(outcomes) if n != refused] == [1, 1, 1]
    assert len(commits) == 1  # the three stored use cases, one database commit
    for n, code in enumerate(codes):
        (form,) = data.list_forms(world.edc, crc, code)
        assert (form.version, form.values["WEIGHT"]) == (1, 50 if n == refused else 60 + n)
    report = verify_audit(world.edc)
    assert report.is_intact, report.to_dict()
    entries = read_audit(world.edc, Actor.system("test"), table="forms", after=before, limit=100).entries
    assert sorted(e.record_id for e in entries) == sorted(
        str(data.list_forms(world.edc, crc, c)[0].id) for n, c in enumerate(codes) if n != refused
    )


@contextmanager
def _commits_failing_in_sqlalchemy(engine):
    """A listener of SQLAlchemy's commits raises before the commit is sent (any backend)."""

    def fail_commit(_connection):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(engine, "commit", fail_commit)
    try:
        yield
    finally:
        event.remove(engine, "commit", fail_commit)


@contextmanager
def _commits_refused_by_postgresql(engine):
    """The server refuses the COMMIT itself: a deferred trigger on the audit log stands in for a full disk."""
    with engine.connect() as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$"
        )
        connection.exec_driver_sql(
            "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON audit_log "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
        connection.commit()
    try:
        yield
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP TRIGGER refuse_commit ON audit_log")
            connection.exec_driver_sql("DROP FUNCTION refuse_commit()")
            connection.commit()


@pytest.mark.parametrize(
    ("backend", "failing"),
    [("sqlite", "in SQLAlchemy"), ("postgresql", "in SQLAlchemy"), ("postgresql", "refused by PostgreSQL")],
)
def test_a_failed_commit_fails_every_write_of_its_batch_and_stores_nothing(world, failing):
    crc = world.actor(CRC)
    codes = [data.create_subject(world.edc, crc, "CN01").code for _ in range(3)]
    before = verify_audit(world.edc).head_seq
    failing_commits = (
        _commits_failing_in_sqlalchemy if failing == "in SQLAlchemy" else _commits_refused_by_postgresql
    )
    with failing_commits(world.edc.engine):
        outcomes = _queue_behind_a_held_gate(
            world,
            [
                (lambda c=code: data.save_form(world.edc, crc, c, "BASELINE", "VITALS", {"WEIGHT": 70}))
                for code in codes
            ],
        )
    for outcome in outcomes:
        assert isinstance(outcome, ServiceUnavailableError), outcome
        assert outcome.problems[0].code == "DB-001"
    for code in codes:
        assert data.list_forms(world.edc, crc, code) == []
    report = verify_audit(world.edc)
    assert report.is_intact and report.head_seq == before, report.to_dict()
    # the next writes go through
    assert data.save_form(world.edc, crc, codes[0], "BASELINE", "VITALS", {"WEIGHT": 71}).version == 1


@pytest.mark.parametrize("limit", [2])
def test_a_batch_commits_at_its_size_limit(world, monkeypatch, limit):
    import oligotrial.services._context as context

    monkeypatch.setattr(context, "GROUP_COMMIT_LIMIT", limit)
    crc = world.actor(CRC)
    codes = [data.create_subject(world.edc, crc, "CN01").code for _ in range(5)]
    commits = _count_commits(world.edc.engine)
    outcomes = _queue_behind_a_held_gate(
        world,
        [
            (lambda c=code: data.save_form(world.edc, crc, c, "BASELINE", "VITALS", {"WEIGHT": 70}))
            for code in codes
        ],
    )
    assert [o.version for o in outcomes] == [1] * 5
    assert len(commits) == 3  # 2 + 2 + 1
    assert verify_audit(world.edc).is_intact


def test_a_later_use_case_that_fails_after_writing_is_undone_alone_and_no_savepoint_is_released(world):
    """The batch's later use cases run in savepoints left in place until the commit (a release would be a round
    trip while the process's other writers wait); one that fails after its changes reached the database is
    rolled back to its savepoint, and the use cases before and after it are stored."""
    from sqlalchemy import select, update

    from oligotrial.services import write_transaction
    from oligotrial.store.tables import Subject

    crc = world.actor(CRC)
    codes = [data.create_subject(world.edc, crc, "CN01").code for _ in range(4)]
    statements: list[str] = []
    event.listen(
        world.edc.engine,
        "before_cursor_execute",
        lambda _c, _cursor, statement, *_rest: statements.append(statement.split(None, 1)[0].upper()),
    )

    def first_entry(code: str):
        return lambda: data.save_form(world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 70})

    def writes_then_fails():
        with write_transaction(world.edc) as session:
            session.execute(update(Subject).where(Subject.code == codes[2]).values(status="withdrawn"))
            session.flush()
            raise RuntimeError("refused after writing")

    writers = [first_entry(code) for code in codes]
    writers[2] = writes_then_fails
    outcomes = _queue_behind_a_held_gate(world, writers)
    assert isinstance(outcomes[2], RuntimeError)
    assert [outcomes[n].version for n in (0, 1, 3)] == [1, 1, 1]
    assert "SAVEPOINT" in statements and "ROLLBACK" in statements  # the failed one's ROLLBACK TO SAVEPOINT
    assert "RELEASE" not in statements
    with write_transaction(world.edc) as session:
        status = session.execute(select(Subject.status).where(Subject.code == codes[2])).scalar_one()
    assert status != "withdrawn"
    assert verify_audit(world.edc).is_intact
