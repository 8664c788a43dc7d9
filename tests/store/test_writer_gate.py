"""The writer gate: first-come first-served, re-entrant per thread, bounded waiting, one gate per engine."""

from __future__ import annotations

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
