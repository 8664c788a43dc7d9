"""What writing the datasets ``derive_adam`` returns costs by itself, cold: a floor under any derivation that
returns them with the same column types.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/output_memory.py [--subjects 100000] [--seed 1] [--runs 5] [--pause 3]

The study is ``bench_adam.generate``'s. ``derive_adam`` runs once; then each run waits ``--pause`` seconds
(polars' allocator returns freed pages to the system within about 1.5 s, so the run touches its memory
afresh, as a derivation in a new process or after the reference's seconds of work does) and copies every
returned dataset row by row (``DataFrame.gather`` of all rows in order: each column's values written once into
new memory, which any derivation returning the dataset must do at least once). The same is then timed for the
datasets with their text columns of fewer than 256 distinct values as ``pl.Enum`` (one byte per row instead
of a 16-byte string view). Printed: per dataset the rows and the text-view bytes; per run the wall clock,
user and system time (``getrusage(RUSAGE_SELF)``, all threads) and minor page faults; the medians.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time

import numpy as np
import polars as pl

sys.path.insert(0, os.path.dirname(__file__))

from bench_adam import generate

from oligotrial.endpoints import derive_adam
from oligotrial.protocol import load_protocol

VIEW_BYTES = (
    16  # a polars string value is a 16-byte view (short values inline, longer ones point to a buffer)
)
DATASETS = ("adsl", "adrs", "adtte", "adae", "adtr")


def as_enums(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text column of fewer than 256 distinct values as a ``pl.Enum`` of its values."""
    columns = []
    for name, dtype in frame.schema.items():
        values = frame[name].drop_nulls().unique().sort()
        if dtype == pl.String and values.len() < 256:
            columns.append(pl.col(name).cast(pl.Enum(values.to_list())))
        else:
            columns.append(pl.col(name))
    return frame.select(columns)


def copy_cold(frames: dict[str, pl.DataFrame], pause: float) -> tuple[float, float, float, int]:
    """Wall, user and system seconds and minor page faults of copying ``frames`` after ``pause`` s idle."""
    rows = {name: np.arange(frame.height) for name, frame in frames.items()}
    gc.collect()
    time.sleep(pause)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    copies = {name: frame.gather(rows[name]) for name, frame in frames.items()}
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    del copies
    return (
        wall,
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        after.ru_minflt - before.ru_minflt,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds idle before each run")
    args = parser.parse_args()
    adam = derive_adam(generate(args.subjects, args.seed), load_protocol())
    as_returned = {name: getattr(adam, name) for name in DATASETS}
    with_enums = {name: as_enums(frame) for name, frame in as_returned.items()}
    total = 0
    for name, frame in as_returned.items():
        text = sum(dtype == pl.String for dtype in frame.schema.values())
        views = frame.height * text * VIEW_BYTES
        total += views
        print(f"{name}: {frame.height:,} rows, {text} text columns, {views / 1e6:.1f} MB of string views")
    print(f"all datasets: {total / 1e6:.1f} MB of string views")
    print("| columns | run | wall ms | user ms | system ms | minor faults |")
    print("|---|---|---|---|---|---|")
    results: dict[str, list[tuple[float, float, float, int]]] = {"as returned": [], "text as pl.Enum": []}
    for run in range(1, args.runs + 1):
        for label, frames in (("as returned", as_returned), ("text as pl.Enum", with_enums)):
            measured = copy_cold(frames, args.pause)
            results[label].append(measured)
            wall, user, system, faults = measured
            print(
                f"| {label} | {run} | {wall * 1e3:.0f} | {user * 1e3:.0f} | {system * 1e3:.0f} | {faults:,} |"
            )
    for label, runs in results.items():
        wall, user, system, faults = (statistics.median(run[i] for run in runs) for i in range(4))
        print(
            f"| {label} | median | {wall * 1e3:.0f} | {user * 1e3:.0f} | {system * 1e3:.0f} | {faults:,.0f} |"
        )


if __name__ == "__main__":
    main()
