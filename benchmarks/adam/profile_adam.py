"""Where ``derive_adam`` spends its time on the benchmark study: a timeline of its parts per thread, with each
part's processor time and minor page faults.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/profile_adam.py [--subjects 100000] [--seed 1] [--runs 3]
    taskset -c 0 .venv/bin/python benchmarks/adam/profile_adam.py   # one core: no pool, parts in turn
    .venv/bin/python benchmarks/adam/profile_adam.py --pause 15      # each run after 15 s idle

The study is ``bench_adam.generate``'s. After one warm-up, each run wraps the main functions of
``oligotrial.endpoints`` (the public ``derive_*`` and ``check_sdtm``, the checks' and ADSL's parts, ADRS's
record building, ADTTE's endpoints, the best-response matrices, the study's cached parts) and records, per
call, the thread, start and end (ms from the start of the run) and the thread's user and system time and
minor page faults (``getrusage(RUSAGE_THREAD)``: work polars hands to its own threads is not counted
there, only in the run's totals). The last run's timeline is printed, nested calls indented. The wrapping
costs a few microseconds per call; the totals are of the wrapped run. ``--pause S`` waits S seconds before
each run, long enough for polars' allocator to return the previous run's pages to the system (polars sets
its dirty pages to decay in 0.5 s and its muzzy ones in 1 s when it loads; 2 s or more will do): each run
then touches its memory afresh, as in ``bench_adam.py``, where every run follows the reference's seconds of
work.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from bench_adam import generate

import oligotrial.endpoints as endpoints
from oligotrial.endpoints.sdtm import Study
from oligotrial.protocol import load_protocol

WRAPPED = {
    "oligotrial.endpoints": (
        "check_sdtm",
        "derive_adsl_parts",
        "derive_adrs",
        "derive_adae",
        "derive_adtr",
        "derive_adtte_from",
    ),
    "oligotrial.endpoints.sdtm": ("_typed", "subject_rows_of", "_check_codes", "_check_consistency"),
    "oligotrial.endpoints.adsl": ("_last_alive", "_end_of_study", "best_overall_response"),
    "oligotrial.endpoints.adrs": ("best_overall_response", "_records", "_record_order"),
    "oligotrial.endpoints.adtte": ("_derive_parameter", "_as_frame"),
    "oligotrial.endpoints._best": ("coded_matrices", "best_overall_response_of"),
}
CACHED = ("coded_responses", "first_tumour_results", "overall_responses")

Record = tuple[str, int, str, float, float, float, float, int]


class Timeline:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.origin = 0.0
        self.depth = threading.local()

    def wrap(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self.depth, "value", 0)
            self.depth.value = depth + 1
            before = resource.getrusage(resource.RUSAGE_THREAD)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                end = time.perf_counter()
                after = resource.getrusage(resource.RUSAGE_THREAD)
                self.depth.value = depth
                self.records.append(
                    (
                        threading.current_thread().name,
                        depth,
                        label,
                        start - self.origin,
                        end - self.origin,
                        after.ru_utime - before.ru_utime,
                        after.ru_stime - before.ru_stime,
                        after.ru_minflt - before.ru_minflt,
                    )
                )

        return wrapped


def install(timeline: Timeline) -> None:
    from functools import cached_property

    for module_name, names in WRAPPED.items():
        module = importlib.import_module(module_name)
        for name in names:
            if hasattr(module, name):
                label = f"{module_name.rsplit('.', 1)[-1]}.{name}"
                setattr(module, name, timeline.wrap(getattr(module, name), label))
    for name in CACHED:
        original = Study.__dict__[name]
        replaced = cached_property(timeline.wrap(original.func, f"Study.{name}"))
        replaced.__set_name__(Study, name)
        setattr(Study, name, replaced)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds idle before each run")
    args = parser.parse_args()
    protocol = load_protocol()
    tables = generate(args.subjects, args.seed)
    timeline = Timeline()
    install(timeline)
    endpoints.derive_adam(tables, protocol)  # warm-up: compiled kernels loaded, pools started
    print(f"load average {os.getloadavg()[0]:.2f}; cores usable {len(os.sched_getaffinity(0))}")
    for run in range(args.runs):
        timeline.records.clear()
        gc.collect()
        time.sleep(args.pause)
        before = resource.getrusage(resource.RUSAGE_SELF)
        timeline.origin = time.perf_counter()
        endpoints.derive_adam(tables, protocol)
        wall = time.perf_counter() - timeline.origin
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"run {run}: wall {wall * 1000:.0f} ms, user {(after.ru_utime - before.ru_utime) * 1000:.0f} ms, "
            f"system {(after.ru_stime - before.ru_stime) * 1000:.0f} ms, "
            f"minor faults {after.ru_minflt - before.ru_minflt}"
        )
    print(
        "thread            part                                      start-end (wall) ms   user  system  faults"
    )
    for thread, depth, label, start, end, user, system, faults in sorted(
        timeline.records, key=lambda r: r[3]
    ):
        print(
            f"{thread:<20} {'  ' * depth + label:<40} {start * 1000:6.0f}-{end * 1000:6.0f} "
            f"({(end - start) * 1000:5.0f})  {user * 1000:5.0f}  {system * 1000:6.0f}  {faults:6d}"
        )


if __name__ == "__main__":
    main()
