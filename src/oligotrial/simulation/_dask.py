"""The distributed backend of :func:`~oligotrial.simulation.run_simulation`: chunks of replicates as Dask
tasks, on a local cluster of worker processes or on an existing cluster reached by its scheduler address.

Each task is :func:`~oligotrial.simulation.montecarlo.simulate_chunk` of one chunk; results are gathered in
chunk order, so a run gives the same numbers as the single-process run with the same seed. Workers of a
remote cluster need the same version of oligotrial installed. Dask is imported only when this is used.

Worker memory: Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (configuration
``distributed.nanny.pre-spawn-environ``), which makes glibc hand freed memory back to the system at once;
a task allocates and frees arrays of about a megabyte many times, so every allocation then faults its
pages in afresh, and a task took twice the processor time of the same chunk in one process (measured on
the benchmark machine, see benchmarks/RESULTS.md). The local clusters started here
(:func:`start_local_cluster`) leave that variable unset, i.e. glibc's default adaptive thresholds; workers
of an existing cluster are best started the same way (``MALLOC_TRIM_THRESHOLD_`` unset in their
environment or that configuration key set to null).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from oligotrial.errors import ConfigurationError
from oligotrial.simulation.montecarlo import (
    SEED_BLOCK,
    Chunk,
    ChunkResult,
    Design,
    SimulationResult,
    plan_chunks,
    simulate_chunk,
    summarize_simulation,
)

__all__ = ["run_simulation_distributed", "start_local_cluster"]

#: Dask configuration for the worker processes of :func:`start_local_cluster` (module docstring).
_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _import_distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigurationError.single(
            "SIM-030", "workers", "Dask is not installed: install the package dask[distributed]"
        ) from None


def start_local_cluster(workers: int) -> Any:
    """A local Dask cluster of ``workers`` single-threaded worker processes, without the nanny's memory
    trimming (module docstring); the caller closes it (it is a context manager).

    Raises
    ------
    ConfigurationError
        ``SIM-030`` when Dask is not installed or ``workers`` is below 1.
    """
    if workers < 1:
        raise ConfigurationError.single("SIM-030", "workers", f"expected at least 1, got {workers}", workers)
    distributed = _import_distributed()
    dask: Any = importlib.import_module("dask")
    with dask.config.set(_WORKER_CONFIG):
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )


def run_simulation_distributed(
    design: Design,
    replicates: int,
    seed: int,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_replicates: int = 10 * SEED_BLOCK,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> SimulationResult:
    """Run the simulation as Dask tasks.

    Parameters
    ----------
    workers
        Start a local cluster of this many single-threaded worker processes (:func:`start_local_cluster`,
        closed at the end).
    scheduler
        Address of an existing scheduler (e.g. ``tcp://10.0.0.5:8786``); the cluster is left running.
    chunk_replicates, on_chunk
        As :func:`~oligotrial.simulation.run_simulation`; ``on_chunk`` is called as tasks finish.

    Raises
    ------
    ConfigurationError
        ``SIM-030`` when Dask is not installed, neither or both of ``workers`` and ``scheduler`` are given,
        or the scheduler cannot be reached.
    """
    if (workers is None) == (scheduler is None):
        raise ConfigurationError.single("SIM-030", "workers", "give exactly one of workers and scheduler")
    if workers is not None and workers < 1:
        raise ConfigurationError.single("SIM-030", "workers", f"expected at least 1, got {workers}", workers)
    distributed = _import_distributed()
    chunks = plan_chunks(replicates, chunk_replicates)
    cluster: Any = None
    try:
        if scheduler is not None:
            client = distributed.Client(scheduler, timeout="20s")
        else:
            assert workers is not None
            cluster = start_local_cluster(workers)
            client = distributed.Client(cluster)
    except OSError as exc:
        raise ConfigurationError.single(
            "SIM-030", "scheduler", f"cannot reach the Dask scheduler: {exc}", scheduler
        ) from None
    try:
        shared = client.scatter(design, broadcast=True)
        futures = [client.submit(simulate_chunk, shared, chunk, seed, pure=False) for chunk in chunks]
        by_key = {future.key: chunk for future, chunk in zip(futures, chunks, strict=True)}
        for future in distributed.as_completed(futures):
            if on_chunk is not None:
                on_chunk(by_key[future.key])
        parts: list[ChunkResult] = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return summarize_simulation(design, ChunkResult.concatenate(parts), seed)
