"""Per-process thread pools: for the pure core's parallel work (compiled kernels, numpy and polars release the
GIL, so threads use several cores) and for the server's requests (their use cases block on the database)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["core_pool", "thread_pool", "usable_cores"]

_POOLS: dict[tuple[int, str, int], ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def core_pool(name: str) -> ThreadPoolExecutor | None:
    """The pool ``name`` of this process, a thread per usable core, created at first use; ``None`` on one core.

    Notes
    -----
    Each user has its own name, so that a task of one never waits for a task of another queued behind it.
    """
    count = usable_cores()
    return thread_pool(name, count) if count > 1 else None


def thread_pool(name: str, threads: int) -> ThreadPoolExecutor:
    """The pool ``name`` of ``threads`` threads of this process, created at first use.

    Notes
    -----
    One pool per process: a forked child does not inherit its parent's threads, so it makes its own.
    """
    key = (os.getpid(), name, threads)
    pool = _POOLS.get(key)
    if pool is None:
        with _LOCK:
            for stale in [k for k in _POOLS if k[0] != key[0]]:
                del _POOLS[stale]
            pool = _POOLS.get(key)
            if pool is None:
                pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix=f"oligotrial-{name}")
    return pool
