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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from oligotrial._threads import core_pool

__all__ = ["Offered", "offer", "run_here", "start"]

T = TypeVar("T")

_WORKER = threading.local()


def start(task: Callable[[], T]) -> Future[T]:
    """Start ``task`` on the pool and return its future; read the result with ``future.result()``.

    On one core, or when called from a task already running on the pool (a nested part: waiting for it
    there could leave every worker waiting), ``task`` runs at once in the calling thread and the future
    is already done, with its result or its exception.
    """
    pool = _pool()
    if pool is None:
        return run_here(task)
    return pool.submit(_as_worker, task)


def run_here(task: Callable[[], T]) -> Future[T]:
    """Run ``task`` now in the calling thread: a done future with its result or its exception, read as
    the future of :func:`start` is (so that the caller may read its error after others', in its own
    order)."""
    done: Future[T] = Future()
    try:
        done.set_result(task())
    except BaseException as error:  # handed to the caller by done.result(), as the pool would
        done.set_exception(error)
    return done


def _pool() -> ThreadPoolExecutor | None:
    """The pool to hand a part to; ``None`` on one core or in a task already running on the pool."""
    return None if getattr(_WORKER, "active", False) else core_pool("adam")


def _as_worker(task: Callable[[], T]) -> T:
    _WORKER.active = True
    try:
        return task()
    finally:
        _WORKER.active = False


class Offered(Generic[T]):
    """A part offered to the pool: it runs once, in whichever thread comes to it first, a worker of the
    pool or the caller of :meth:`result` (who then does not wait for a busy pool)."""

    def __init__(self, task: Callable[[], T]) -> None:
        self._task = task
        self._lock = threading.Lock()
        self._claimed = False
        self._done: Future[T] = Future()

    def _claim(self) -> bool:
        with self._lock:
            claimed, self._claimed = self._claimed, True
            return not claimed

    def _run(self) -> None:
        try:
            self._done.set_result(self._task())
        except BaseException as error:  # handed to the caller by result(), as start's future does
            self._done.set_exception(error)

    def _run_on_worker(self) -> None:
        if self._claim():
            _as_worker(self._run)

    def run_if_unclaimed(self) -> None:
        """Run the part here when no thread has started it (else leave it to the thread running it)."""
        if self._claim():
            self._run()

    def result(self) -> T:
        """The part's result (or its exception): run here when no worker has started it yet."""
        if self._claim():
            self._run()
        return self._done.result()


def offer(task: Callable[[], T]) -> Offered[T]:
    """Offer ``task`` to the pool: a free worker runs it, else the first call of ``result()`` does.

    Notes
    -----
    For parts the caller could run itself: when the pool is busy with longer parts, the caller does not
    wait for a worker but runs the part when it needs the result. On one core, or from a task already
    running on the pool (as for :func:`start`), nothing is submitted and ``result()`` runs the part.
    """
    offered = Offered(task)
    pool = _pool()
    if pool is not None:
        pool.submit(offered._run_on_worker)
    return offered
