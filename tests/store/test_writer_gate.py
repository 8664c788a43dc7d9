"""The writer gate: first-come first-served, re-entrant per thread, bounded waiting, one gate per engine."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine as sa_create_engine

from oligotrial.store.engine import WriterGate, writer_gate


def _wait_for_waiters(gate: WriterGate, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(gate._waiters) < count:
        assert time.monotonic() < deadline, "the waiters did not queue"
        time.sleep(0.001)


def test_waiters_get_the_gate_in_arrival_order():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    order: list[int] = []

    def writer(n: int) -> None:
        assert gate.acquire(timeout=10)
        order.append(n)
        gate.release()

    threads = []
    for n in range(8):  # each queues before the next one starts: the arrival order is 0, 1, ..., 7
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_for_waiters(gate, n + 1)
    gate.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4, 5, 6, 7]


def test_a_newcomer_does_not_overtake_a_woken_waiter():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    got: list[str] = []

    def waiter() -> None:
        assert gate.acquire(timeout=10)
        got.append("waiter")
        gate.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_for_waiters(gate, 1)
    gate.release()  # handed to the waiter, even if it has not run yet
    assert gate.acquire(timeout=10)
    got.append("newcomer")
    gate.release()
    thread.join(10)
    assert got == ["waiter", "newcomer"]


def test_the_gate_is_reentrant_for_its_holder():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    assert gate.acquire(timeout=1)
    gate.release()
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(gate.acquire(timeout=0.05)))
    thread.start()
    thread.join(10)
    assert outcome == [False]  # still held once
    gate.release()
    thread = threading.Thread(target=lambda: outcome.append(gate.acquire(timeout=1)))
    thread.start()
    thread.join(10)
    assert outcome == [False, True]


def test_a_waiter_gives_up_after_its_timeout_and_leaves_the_queue():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(gate.acquire(timeout=0.05)))
    thread.start()
    thread.join(10)
    assert outcome == [False]
    assert len(gate._waiters) == 0
    gate.release()
    assert gate.acquire(timeout=0)
    gate.release()


def test_only_the_holder_can_release():
    gate = WriterGate()
    with pytest.raises(RuntimeError, match="does not hold it"):
        gate.release()
    assert gate.acquire(timeout=1)
    errors: list[Exception] = []

    def other() -> None:
        try:
            gate.release()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    gate.release()


def test_held_yields_false_without_holding_after_the_timeout():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    outcome: list[bool] = []

    def other() -> None:
        with gate.held(timeout=0.05) as is_held:
            outcome.append(is_held)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert outcome == [False]
    gate.release()
    with gate.held(timeout=1) as is_held:
        assert is_held
    assert gate._owner is None


def test_one_gate_per_engine():
    first, second = sa_create_engine("sqlite://"), sa_create_engine("sqlite://")
    try:
        assert writer_gate(first) is writer_gate(first)
        assert writer_gate(first) is not writer_gate(second)
    finally:
        first.dispose()
        second.dispose()


def test_a_sqlite_file_gate_locks_a_file_beside_the_database_and_a_memory_one_does_not(tmp_path):
    on_file = sa_create_engine(f"sqlite:///{tmp_path / 'trial.db'}")
    in_memory = sa_create_engine("sqlite://")
    try:
        assert writer_gate(on_file)._lock_file == tmp_path / "trial.db-writer.lock"
        assert writer_gate(in_memory)._lock_file is None
    finally:
        on_file.dispose()
        in_memory.dispose()


def _locked_elsewhere(lock_file) -> bool:
    """Whether another open file description holds the lock file's exclusive lock (a probe that never waits)."""
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing releases a lock the probe took
    return False


def _wait_until_in_line(line) -> None:
    """Wait until another gate holds the line (it is waiting for the lock file)."""
    deadline = time.monotonic() + 10
    while not _locked_elsewhere(line):
        assert time.monotonic() < deadline, "the other gate did not line up"
        time.sleep(0.001)


def test_gates_of_two_engines_on_one_file_take_turns(tmp_path):
    """Two gates on one lock file (as two processes have): the second holder waits for the first's release."""
    lock_file = tmp_path / "trial.db-writer.lock"
    first, second = WriterGate(lock_file), WriterGate(lock_file)
    assert first.acquire(timeout=1)
    assert _locked_elsewhere(lock_file)
    events: list[str] = []
    got_second = threading.Event()

    def other() -> None:
        assert second.acquire(timeout=10)
        events.append("second holds")
        got_second.set()
        second.release()

    thread = threading.Thread(target=other)
    thread.start()
    assert not got_second.wait(0.2)  # held by the first gate: the second is still waiting
    events.append("first releases")
    first.release()
    thread.join(10)
    assert events == ["first releases", "second holds"]
    assert not _locked_elsewhere(lock_file)


def test_a_gate_that_wants_the_lock_again_lets_the_one_waiting_go_first(tmp_path):
    """The kernel would let the releasing gate take the file lock straight back; the line makes it wait its
    turn behind the gate already waiting."""
    lock_file = tmp_path / "trial.db-writer.lock"
    first, second = WriterGate(lock_file), WriterGate(lock_file)
    assert first.acquire(timeout=1)
    events: list[str] = []

    def other() -> None:
        assert second.acquire(timeout=10)
        events.append("second holds")
        time.sleep(0.05)
        events.append("second releases")
        second.release()

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    try:
        _wait_until_in_line(tmp_path / "trial.db-writer.lock.line")
    finally:
        first.release()
    assert first.acquire(timeout=10)
    events.append("first holds again")
    first.release()
    thread.join(10)
    assert events == ["second holds", "second releases", "first holds again"]
    assert not _locked_elsewhere(lock_file)


def test_a_gate_passed_on_keeps_the_lock_file_though_another_gate_is_in_line(tmp_path):
    """Group commit passes the gate on within the process with the lock file still locked: the next holder
    goes on at once (it must not line up behind the other gate, which waits for that very lock)."""
    lock_file = tmp_path / "trial.db-writer.lock"
    first, second = WriterGate(lock_file), WriterGate(lock_file)
    assert first.acquire(timeout=1)
    events: list[str] = []

    def later_writer_here() -> None:
        assert first.acquire(timeout=10)
        events.append("next writer here holds")
        first.release()

    def writer_elsewhere() -> None:
        assert second.acquire(timeout=10)
        events.append("other gate holds")
        second.release()

    here = threading.Thread(target=later_writer_here, daemon=True)
    here.start()
    _wait_for_waiters(first, 1)
    elsewhere = threading.Thread(target=writer_elsewhere, daemon=True)
    elsewhere.start()
    _wait_until_in_line(tmp_path / "trial.db-writer.lock.line")
    assert first.pass_on()
    here.join(10)
    elsewhere.join(10)
    assert not here.is_alive() and not elsewhere.is_alive(), "a writer is stuck"
    assert events == ["next writer here holds", "other gate holds"]
    assert not _locked_elsewhere(lock_file)


def test_another_process_holding_the_gate_makes_writers_here_wait(tmp_path):
    database = tmp_path / "trial.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from sqlalchemy import create_engine; from oligotrial.store.engine import writer_gate; "
            f"gate = writer_gate(create_engine({f'sqlite:///{database}'!r})); gate.acquire(10); "
            "print('held', flush=True); sys.stdin.readline(); gate.release(); print('released', flush=True); "
            "sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    engine = sa_create_engine(f"sqlite:///{database}")
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _locked_elsewhere(database.with_name("trial.db-writer.lock"))
        gate, got = writer_gate(engine), threading.Event()

        def writer() -> None:
            assert gate.acquire(timeout=10)
            got.set()
            gate.release()

        thread = threading.Thread(target=writer)
        thread.start()
        assert not got.wait(0.2)  # the other process holds the lock: the writer here waits
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        thread.join(10)
        assert got.is_set()
    finally:
        holder.stdin.write("exit\n")
        holder.stdin.flush()
        holder.wait(30)
        engine.dispose()


def _queue_in_order(
    gate: WriterGate, waiters: tuple[tuple[str, bool], ...]
) -> tuple[list[threading.Thread], list[str]]:
    """One thread per ``(name, exclusive)`` waiter, each queued before the next starts; each records its name
    once it holds the gate, then, a plain writer, passes the gate on as group commit does (else releases it)."""
    got: list[str] = []

    def run(name: str, exclusive: bool) -> None:
        assert gate.acquire(timeout=10, exclusive=exclusive)
        got.append(name)
        if not exclusive and gate.pass_on():  # the batch goes on with the next writer
            return
        gate.release()

    threads = []
    for name, exclusive in waiters:
        threads.append(threading.Thread(target=run, args=(name, exclusive)))
        threads[-1].start()
        _wait_for_waiters(gate, len(threads))
    return threads, got


def test_an_exclusive_waiter_is_not_passed_an_open_transaction():
    """Group commit hands the gate on with its transaction open; an exclusive holder (the SQLite checkpointer's
    restart of the WAL) must find none, so ``pass_on`` refuses while it is next in line, and the holder releases
    to it after its commit."""
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    threads, got = _queue_in_order(gate, (("exclusive", True), ("writer", False)))
    assert not gate.pass_on()  # the exclusive one is next: no transaction is passed on
    assert gate._owner == threading.get_ident()
    gate.release()
    for thread in threads:
        thread.join(10)
    assert got == ["exclusive", "writer"]
    assert not gate._exclusive


def test_a_writer_ahead_of_an_exclusive_waiter_is_still_passed_the_transaction():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    threads, got = _queue_in_order(gate, (("writer", False), ("exclusive", True)))
    assert gate.pass_on()  # the writer is next
    for thread in threads:
        thread.join(10)
    assert got == ["writer", "exclusive"]
    assert gate._owner is None


def test_an_exclusive_waiter_that_gives_up_leaves_no_mark():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(gate.acquire(timeout=0.05, exclusive=True)))
    thread.start()
    thread.join(10)
    assert outcome == [False]
    assert not gate._waiters and not gate._exclusive
    gate.release()
