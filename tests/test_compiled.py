"""The compiled kernels of the pure core (``oligotrial._compiled``): cached on disk where possible, compiled in
memory where numba finds no writable cache location (a read-only installation without a writable home)."""

from __future__ import annotations

import gc

import numba
import numpy as np
import pytest

from oligotrial import _compiled


def _running_sum(values):
    total = 0.0
    for value in values:
        total += value
    return total


def test_a_kernel_is_compiled_and_releases_the_gil():
    compiled = _compiled.kernel()(_running_sum)
    assert compiled(np.array([1.0, 2.5, 3.0])) == 6.5
    assert compiled.targetoptions["nogil"] is True


def test_without_a_writable_cache_location_the_kernel_compiles_in_memory(monkeypatch):
    """numba raises at decoration when ``cache=True`` finds no locator; the kernel must still work."""
    real_njit = numba.njit
    asked = []

    def njit_without_locator(*args, **options):
        asked.append(options.get("cache", False))
        if options.get("cache"):
            raise RuntimeError("cannot cache function '_running_sum': no locator available for file 'x.py'")
        return real_njit(*args, **options)

    monkeypatch.setattr(_compiled.numba, "njit", njit_without_locator)
    compiled = _compiled.kernel([numba.float64(numba.float64[:])])(_running_sum)
    assert asked == [True, False]
    assert compiled(np.array([0.5, 0.25])) == 0.75


def test_other_compilation_errors_are_not_hidden(monkeypatch):
    def failing_njit(*args, **options):
        raise RuntimeError("something else went wrong")

    monkeypatch.setattr(_compiled.numba, "njit", failing_njit)
    with pytest.raises(RuntimeError, match="something else"):
        _compiled.kernel()(_running_sum)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_a_kernel_loads_and_then_restored(enabled, monkeypatch):
    real_njit = numba.njit
    during = []

    def njit_watching_the_collector(*args, **options):
        during.append(gc.isenabled())
        return real_njit(*args, **options)

    monkeypatch.setattr(_compiled.numba, "njit", njit_watching_the_collector)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        compiled = _compiled.kernel([numba.float64(numba.float64[:])])(_running_sum)
        assert during == [False]
        assert gc.isenabled() is enabled
        assert compiled(np.array([1.0, 2.0])) == 3.0
    finally:
        (gc.enable if was else gc.disable)()


def test_the_collector_is_restored_when_loading_fails(monkeypatch):
    def failing_njit(*args, **options):
        raise RuntimeError("something else went wrong")

    monkeypatch.setattr(_compiled.numba, "njit", failing_njit)
    with pytest.raises(RuntimeError):
        _compiled.kernel()(_running_sum)
    assert gc.isenabled()
