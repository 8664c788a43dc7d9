"""The Dask backend: a local cluster of 2 workers gives the single-process result for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.errors import ConfigurationError
from oligotrial.protocol import load_protocol
from oligotrial.simulation import (
    compile_design,
    parse_scenario,
    run_simulation,
    run_simulation_distributed,
    start_local_cluster,
)

pytest.importorskip("distributed")

SCENARIO = """\
sample_size: {randomized: 120}
induction: {progression_probability: 0.1}
transitions: {progression: {control: {median: 6}, hazard_ratio: 0.7}}
analysis: {events: 90, information_rates: [0.6, 1.0]}
"""


def test_two_workers_match_one_process():
    """Two Dask workers (in-process threads here, reached by scheduler address, to keep the test fast; the
    benchmark runs ``workers=2`` as processes) give the single-process result bit for bit."""
    from distributed import LocalCluster

    design = compile_design(load_protocol(), parse_scenario(SCENARIO))
    done = []
    local = run_simulation(design, 4000, seed=5, chunk_replicates=4000)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = run_simulation_distributed(
            design,
            4000,
            seed=5,
            scheduler=cluster.scheduler_address,
            chunk_replicates=1000,
            on_chunk=done.append,
        )
    assert sorted(c.index for c in done) == [0, 1, 2, 3]
    np.testing.assert_array_equal(local.replicates.z, dask.replicates.z)
    assert local.summary == dask.summary


def test_workers_or_scheduler_required():
    design = compile_design(load_protocol(), parse_scenario(SCENARIO))
    with pytest.raises(ConfigurationError) as caught:
        run_simulation_distributed(design, 10, seed=1)
    assert caught.value.code == "SIM-030"


def test_local_cluster_workers_do_not_trim_memory_on_every_free():
    """The worker processes of ``start_local_cluster`` run without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``
    (which doubled the processor time of a task); one worker, single-threaded."""
    from distributed import Client

    with start_local_cluster(1) as cluster, Client(cluster) as client:
        environment = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
        threads = client.nthreads()
    assert list(environment.values()) == [None]
    assert list(threads.values()) == [1]


def test_local_cluster_needs_a_worker():
    with pytest.raises(ConfigurationError) as caught:
        start_local_cluster(0)
    assert caught.value.code == "SIM-030"
