"""Design simulation throughput against rpact, in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/simulation/bench_simulation.py [--replicates 100000] [--rpact 20000] [--rounds 3]

Design (comparable to rpact_survival.R): 120 randomized, analysis at 90 PFS events, exponential PFS (control
median 6 months, HR 0.6), two-sided 0.05. "plain": deterministic accrual, fixed 1:1 allocation, PFS only,
no drop-out (our richer model switched off). "rich": induction with 10 % progression (not randomized),
random Poisson accrual with a 3-month ramp-up, joint PFS/OS (illness-death), 5 % drop-out per year.
Medians and Cox are off in both (rpact reports neither per replicate); the log-rank HR is on. Then the
rich design on a local Dask cluster of 1 and of 2 worker processes (cluster start-up excluded). rpact,
plain and rich are measured in interleaved rounds, and the ratios are taken within a round, so that the
load of a shared machine weighs on both sides alike; the Dask runs are repeated ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from oligotrial.protocol import load_protocol
from oligotrial.simulation import (
    SEED_BLOCK,
    compile_design,
    parse_scenario,
    run_simulation,
    run_simulation_distributed,
    start_local_cluster,
)

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


def _rpact(iterations):
    """rpact's trials/s by the wall clock and by its processor time, and its output line."""
    out = subprocess.run(
        ["Rscript", str(HERE / "rpact_survival.R"), str(iterations)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    found = re.search(r"= (\d+) trials/s \(cpu [\d.]+ s = (\d+) trials/s\)", out)
    assert found is not None, out
    return float(found[1]), float(found[2]), out


def _time(func, replicates):
    """Trials/s by the wall clock and by the processor time of this process, and the result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = func()
    return replicates / (time.perf_counter() - start), replicates / (time.process_time() - cpu), result


def _range(values, unit=""):
    low, high = min(values), max(values)
    if unit == "x":
        return f"{low:.1f}x" if len(values) == 1 else f"{low:.1f}x - {high:.1f}x"
    return f"{low:,.0f}" if len(values) == 1 else f"{low:,.0f} - {high:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=100_000)
    parser.add_argument("--rpact", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of rpact, plain, rich (interleaved)")
    args = parser.parse_args()
    protocol = load_protocol()
    plain = compile_design(protocol, parse_scenario(PLAIN))
    rich = compile_design(protocol, parse_scenario(RICH))
    n = args.replicates
    run_simulation(plain, 2 * SEED_BLOCK, args.seed)  # warm up (imports, first allocations)
    ratios: dict[str, list[float]] = {"plain": [], "rich": [], "plain cpu": [], "rich cpu": []}
    results = {}
    print("trials/s, wall clock (processor time in brackets)")
    print("| round | rpact | plain | rich | plain / rpact | rich / rpact |")
    print("|---|---|---|---|---|---|")
    for r in range(args.rounds):
        rpact_wall, rpact_cpu, rpact_out = _rpact(args.rpact)
        plain_wall, plain_cpu, results["plain"] = _time(lambda: run_simulation(plain, n, args.seed), n)
        rich_wall, rich_cpu, results["rich"] = _time(lambda: run_simulation(rich, n, args.seed), n)
        ratios["plain"].append(plain_wall / rpact_wall)
        ratios["rich"].append(rich_wall / rpact_wall)
        ratios["plain cpu"].append(plain_cpu / rpact_cpu)
        ratios["rich cpu"].append(rich_cpu / rpact_cpu)
        print(
            f"| {r + 1} | {rpact_wall:,.0f} ({rpact_cpu:,.0f}) | {plain_wall:,.0f} ({plain_cpu:,.0f}) | "
            f"{rich_wall:,.0f} ({rich_cpu:,.0f}) | {ratios['plain'][-1]:.1f}x ({ratios['plain cpu'][-1]:.1f}x) | "
            f"{ratios['rich'][-1]:.1f}x ({ratios['rich cpu'][-1]:.1f}x) |"
        )
    print(rpact_out)
    print(
        f"rejection: plain {results['plain'].summary['rejection']['estimate']:.4f}, "
        f"rich {results['rich'].summary['rejection']['estimate']:.4f}"
    )
    from distributed import Client

    dask_rates: dict[int, list[float]] = {}
    for workers in (1, 2):
        with start_local_cluster(workers) as cluster:
            with Client(cluster) as client:
                client.run(lambda: __import__("oligotrial.simulation"))  # warm the workers
            dask_rates[workers] = []
            for _ in range(args.rounds):
                rate, _cpu, result = _time(
                    lambda c=cluster: run_simulation_distributed(
                        rich, n, args.seed, scheduler=c.scheduler_address, chunk_replicates=5 * SEED_BLOCK
                    ),
                    n,
                )
                dask_rates[workers].append(rate)
                assert np.array_equal(result.replicates.z, results["rich"].replicates.z), (
                    "Dask result differs"
                )
        print(f"rich, Dask {workers} worker(s): {_range(dask_rates[workers])} trials/s (wall clock)")
    speedup = [b / a for a, b in zip(dask_rates[1], dask_rates[2], strict=True)]
    print(
        f"plain / rpact: {_range(ratios['plain'], 'x')} (processor time {_range(ratios['plain cpu'], 'x')}); "
        f"rich / rpact: {_range(ratios['rich'], 'x')} (processor time {_range(ratios['rich cpu'], 'x')}); "
        f"Dask 2 vs 1 worker: {min(speedup):.2f}x - {max(speedup):.2f}x (results identical to the single "
        "process)"
    )


if __name__ == "__main__":
    main()
