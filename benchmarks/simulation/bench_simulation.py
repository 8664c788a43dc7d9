"""Design simulation throughput against rpact, in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/simulation/bench_simulation.py [--replicates 100000] [--rpact 20000]

Design (comparable to rpact_survival.R): 120 randomized, analysis at 90 PFS events, exponential PFS (control
median 6 months, HR 0.6), two-sided 0.05. "plain": deterministic accrual, fixed 1:1 allocation, PFS only,
no drop-out (our richer model switched off). "rich": induction with 10 % progression (not randomized),
random Poisson accrual with a 3-month ramp-up, joint PFS/OS (illness-death), 5 % drop-out per year.
Medians and Cox are off in both (rpact reports neither per replicate); the log-rank HR is on. Then the
rich design on a local Dask cluster of 1 and of 2 worker processes (cluster start-up excluded).
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np

from oligotrial.protocol import load_protocol
from oligotrial.simulation import compile_design, parse_scenario, run_simulation, run_simulation_distributed

HERE = Path(__file__).resolve().parent

PLAIN = """\
name: plain
sample_size: {randomized: 120}
accrual: {rate: 10, is_random: false}
randomization: {method: fixed}
transitions: {progression: {control: {median: 6}, hazard_ratio: 0.6}, is_joint: false}
analysis: {events: 90, is_medians: false}
"""

RICH = """\
name: rich
sample_size: {randomized: 120}
accrual: {rate: 10, ramp_up_months: 3}
induction: {progression_probability: 0.1}
randomization: {method: simple}
transitions:
  progression: {control: {median: 6}, hazard_ratio: 0.6}
  death_before_progression: {control: {median: 60}}
  death_after_progression: {control: {median: 8}}
dropout: {rate: 0.05}
analysis: {events: 90, is_medians: false}
"""


def _time(label, func, replicates):
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    rate = replicates / elapsed
    print(
        f"| {label} | {replicates:,} | {elapsed:.2f} | {rate:,.0f} | {result.summary['rejection']['estimate']:.4f} |"
    )
    return rate, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=100_000)
    parser.add_argument("--rpact", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    protocol = load_protocol()
    plain = compile_design(protocol, parse_scenario(PLAIN))
    rich = compile_design(protocol, parse_scenario(RICH))
    n = args.replicates
    out = subprocess.run(
        ["Rscript", str(HERE / "rpact_survival.R"), str(args.rpact)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rpact_rate = float(out.split("=")[1].split("trials/s")[0])
    print(out)
    print("| run | trials | seconds | trials/s | rejection |")
    print("|---|---|---|---|---|")
    print(f"| rpact getSimulationSurvival (1 core) | {args.rpact:,} | - | {rpact_rate:,.0f} | - |")
    plain_rate, _ = _time("oligotrial plain, 1 process", lambda: run_simulation(plain, n, args.seed), n)
    rich_rate, single = _time("oligotrial rich, 1 process", lambda: run_simulation(rich, n, args.seed), n)
    from distributed import Client, LocalCluster

    rates = {}
    for workers in (1, 2):
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            with Client(cluster) as client:
                client.run(lambda: __import__("oligotrial.simulation"))  # warm the workers
            rates[workers], result = _time(
                f"oligotrial rich, Dask {workers} worker(s)",
                lambda c=cluster: run_simulation_distributed(
                    rich, n, args.seed, scheduler=c.scheduler_address, chunk_replicates=5000
                ),
                n,
            )
            assert np.array_equal(result.replicates.z, single.replicates.z), "Dask result differs"
    print(
        f"plain / rpact: {plain_rate / rpact_rate:.1f}x; rich / rpact: {rich_rate / rpact_rate:.1f}x; "
        f"Dask 2 vs 1 worker: {rates[2] / rates[1]:.2f}x (results identical to the single process)"
    )


if __name__ == "__main__":
    main()
