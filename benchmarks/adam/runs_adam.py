"""``derive_adam`` alone, repeated on the benchmark study: median wall clock, user and system time and minor page
faults per run, for old-against-new comparisons in one sitting.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/runs_adam.py [--subjects 100000] [--seed 1] [--runs 10] [--label new]
    PYTHONPATH=/tmp/adam_old/src .venv/bin/python benchmarks/adam/runs_adam.py --label old   # another tree
    taskset -c 1 .venv/bin/python benchmarks/adam/runs_adam.py                                # one core

The study is ``bench_adam.generate``'s, generated once (or read from ``--tables``, a folder of Arrow IPC
files written by ``--write-tables``, so that both sides of a comparison read the same bytes quickly). After
one warm-up run, the cyclic garbage collector is switched off and each run is timed with
``time.perf_counter`` and ``getrusage(RUSAGE_SELF)`` (all threads: the pool's and polars' own). Run the two
sides alternately, a few processes each, as the machine may be shared.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, os.path.dirname(__file__))

from bench_adam import generate

import oligotrial.endpoints as endpoints
from oligotrial.protocol import load_protocol


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--tables", type=Path, help="read the study from this folder's DM.arrow, RS.arrow, ..."
    )
    parser.add_argument("--write-tables", type=Path, help="write the generated study there, then stop")
    args = parser.parse_args()
    if args.tables is not None:
        tables = {path.stem: pl.read_ipc(path) for path in sorted(args.tables.glob("*.arrow"))}
    else:
        tables = generate(args.subjects, args.seed)
    if args.write_tables is not None:
        args.write_tables.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            frame.write_ipc(args.write_tables / f"{name}.arrow")
        return
    protocol = load_protocol()
    endpoints.derive_adam(tables, protocol)  # warm-up: the compiled kernels' cache, the pools
    gc.disable()
    walls: list[float] = []
    users: list[float] = []
    systems: list[float] = []
    faults: list[int] = []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        endpoints.derive_adam(tables, protocol)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_SELF)
        users.append(after.ru_utime - before.ru_utime)
        systems.append(after.ru_stime - before.ru_stime)
        faults.append(after.ru_minflt - before.ru_minflt)
    gc.enable()
    median = statistics.median
    print(
        f"{args.label or endpoints.__file__}: {args.runs} runs, median wall {median(walls) * 1000:.1f} ms "
        f"(min {min(walls) * 1000:.1f}), user {median(users) * 1000:.1f} ms, system "
        f"{median(systems) * 1000:.1f} ms, CPU {median(u + s for u, s in zip(users, systems, strict=True)) * 1000:.1f}"
        f" ms, minor faults {median(faults):.0f}; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
