"""Per-process thread pools (``oligotrial._threads``): the pure core's and the server's requests'."""

from __future__ import annotations

import threading

from oligotrial import _threads


def test_one_pool_per_name_with_a_thread_per_core(monkeypatch):
    monkeypatch.setattr(_threads, "_POOLS", {})
    monkeypatch.setattr(_threads, "usable_cores", lambda: 2)
    first = _threads.core_pool("one")
    assert first is _threads.core_pool("one")
    assert first is not _threads.core_pool("two")
    names = first.submit(lambda: threading.current_thread().name).result()
    assert names.startswith("oligotrial-one")
    assert first._max_workers == 2
    for pool in _threads._POOLS.values():
        pool.shutdown()


def test_no_pool_on_one_core(monkeypatch):
    monkeypatch.setattr(_threads, "_POOLS", {})
    monkeypatch.setattr(_threads, "usable_cores", lambda: 1)
    assert _threads.core_pool("one") is None


def test_a_forked_child_makes_its_own_pool(monkeypatch):
    monkeypatch.setattr(_threads, "_POOLS", {})
    monkeypatch.setattr(_threads, "usable_cores", lambda: 2)
    parent = _threads.core_pool("one")
    monkeypatch.setattr(_threads.os, "getpid", lambda: -1)  # as a child process sees itself
    child = _threads.core_pool("one")
    assert child is not parent and child is not None
    assert list(_threads._POOLS) == [(-1, "one", 2)]  # the parent's pools are forgotten in the child
    parent.shutdown()
    child.shutdown()


def test_a_pool_of_a_given_size_per_name_and_size(monkeypatch):
    monkeypatch.setattr(_threads, "_POOLS", {})
    eight = _threads.thread_pool("request", 8)
    assert eight is _threads.thread_pool("request", 8)
    assert eight._max_workers == 8
    assert _threads.thread_pool("request", 3)._max_workers == 3
    for pool in _threads._POOLS.values():
        pool.shutdown()
