"""How fast this machine runs the same single-threaded Python work from one moment to the next.

Usage (from the repository root)::

    .venv/bin/python benchmarks/machine_speed.py [--seconds 60] [--interval 0.2] [--iterations 500000]

Times one fixed pure-Python loop (``--iterations`` additions of squares) every ``--interval`` seconds for
``--seconds`` and prints the distribution of its wall clock and processor time (minimum, 10th percentile,
median, 90th percentile, maximum, in ms) and the ratio of the slowest to the fastest. Run it on an idle
machine beside a benchmark's figures: on a virtual machine whose cores are shared with other guests, the
same work can take twice as long from one second to the next, which bounds how far apart two runs of any
benchmark here can be, and how close to a goal a single run can be trusted to be. Processor time follows
the wall clock when the slowness is the core's own (a busy sibling thread, a lower clock) rather than time
taken away from the guest.
"""

from __future__ import annotations

import argparse
import statistics
import time


def timed_loop(iterations: int) -> tuple[float, float]:
    """Wall clock and processor time (s) of ``iterations`` additions of squares."""
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - wall, time.process_time() - cpu


def distribution(values: list[float]) -> str:
    """``min / p10 / median / p90 / max`` in ms."""
    ordered = sorted(values)
    deciles = statistics.quantiles(ordered, n=10)
    shown = (ordered[0], deciles[0], statistics.median(ordered), deciles[-1], ordered[-1])
    return " / ".join(f"{1e3 * v:.1f}" for v in shown)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.2, help="idle time between two timed loops")
    parser.add_argument("--iterations", type=int, default=500_000)
    args = parser.parse_args()
    walls: list[float] = []
    cpus: list[float] = []
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end or len(walls) < 2:
        wall, cpu = timed_loop(args.iterations)
        walls.append(wall)
        cpus.append(cpu)
        time.sleep(args.interval)
    print(f"{len(walls)} loops of {args.iterations:,} iterations, min / p10 / median / p90 / max ms")
    print(f"wall clock:     {distribution(walls)}")
    print(f"processor time: {distribution(cpus)}")
    print(f"slowest / fastest: {max(walls) / min(walls):.2f}x")


if __name__ == "__main__":
    main()
