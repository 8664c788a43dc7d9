"""Independent parts of the ADaM derivation run side by side on a small thread pool (private).

The parts that run here spend most of their time in polars (which releases the GIL while it computes),
numpy loops and compiled kernels (``oligotrial._compiled.kernel`` releases the GIL), so two of them use two
cores. Results and errors are those of running the parts one after the other: each part is a function of
its inputs only, and a caller reads the results in the order it would have run them, so the first error
raised in that order is the one it sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from oligotrial._threads import core_pool

__all__ = ["start"]

T = TypeVar("T")

_WORKER = threading.local()


def start(task: Callable[[], T]) -> Future[T]:
    """Start ``task`` on the pool and return its future; read the result with ``future.result()``.

    On one core, or when called from a task already running on the pool (a nested part: waiting for it
    there could leave every worker waiting), ``task`` runs at once in the calling thread and the future
    is already done, with its result or its exception.
    """
    pool = None if getattr(_WORKER, "active", False) else core_pool("adam")
    if pool is None:
        done: Future[T] = Future()
        try:
            done.set_result(task())
        except BaseException as error:  # handed to the caller by done.result(), as the pool would
            done.set_exception(error)
        return done
    return pool.submit(_as_worker, task)


def _as_worker(task: Callable[[], T]) -> T:
    _WORKER.active = True
    try:
        return task()
    finally:
        _WORKER.active = False
