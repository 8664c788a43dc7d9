"""Compiled kernels of the pure core: numba's ``njit``, cached on disk wherever a cache can be written.

numba keeps a compiled kernel next to its source (``__pycache__``) or, when that is read-only, in the user's
cache directory (``NUMBA_CACHE_DIR`` overrides both). Where neither can be written, as with a read-only
installation run by an account without a writable home (a container with a read-only root file system),
``cache=True`` makes numba refuse the function ("no locator available"): the kernel is then compiled in
memory instead, once per process, which costs seconds at its first use but changes no result.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import numba

__all__ = ["kernel"]

_F = TypeVar("_F", bound=Callable[..., Any])


def kernel(signatures: list[Any] | None = None) -> Callable[[_F], _F]:
    """Decorate a function as a compiled kernel that releases the GIL (``numba.njit(nogil=True)``).

    Parameters
    ----------
    signatures
        Explicit signatures (``numba.njit``'s first argument), or ``None``: with them the kernel is compiled,
        or loaded from the cache, when its module is imported, once for those types only (with Python's garbage
        collector paused meanwhile, :func:`_collector_paused`).
    """

    def decorate(function: _F) -> _F:
        with _collector_paused():
            try:
                compiled = numba.njit(signatures, cache=True, nogil=True)(function)
            except RuntimeError as error:
                if "no locator available" not in str(error):
                    raise
                compiled = numba.njit(signatures, nogil=True)(function)
        return cast(_F, compiled)  # a dispatcher, called as the function is

    return decorate


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, and then restored as it was.

    Loading the first kernel of a process sets up numba's typing and code generation, and loading each kernel
    from the cache creates many short-lived objects: with the collector running, a process that loads the
    ADaM derivation's kernels made 206 collections in its first derivation, 70 with this pause (those of
    numba's own import).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
