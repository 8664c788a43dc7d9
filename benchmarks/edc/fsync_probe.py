"""How long this machine's disk takes to flush, as a database's commit waits for it: the tail, not the mean.

Usage (from the repository root)::

    .venv/bin/python benchmarks/edc/fsync_probe.py [--folder DIR] [--seconds 60] [--rate 300]

Writes 8 KB (a WAL page) at rotating offsets of a file in a temporary folder under ``--folder`` (default: the
system's temporary folder, on the same disk as the load runs' databases here) and waits for ``fdatasync``
after each write, ``--rate`` times a second (300: one flush per commit at 300 saves/s), for ``--seconds``.
Prints the count, p50, p99, p99.9 and the longest flush in milliseconds, and how many took 20, 50 and 100 ms
or more. No database and nothing of the project is involved: it tells a PostgreSQL ``COMMIT`` that waited
for the disk (``load.py --postgres-log``) from a wait made by the server. ``pg_test_fsync`` reports
averages only.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

PAGE = 8192
PAGES = 2048  # a 16 MB file, the size of a WAL segment


def flush_times(folder: Path, seconds: float, rate: float) -> list[float]:
    """Seconds each write+``fdatasync`` waited for its flush, for ``seconds`` at ``rate`` flushes a second."""
    with tempfile.TemporaryDirectory(dir=folder, prefix="oligotrial-fsync-") as directory:
        path = Path(directory) / "probe"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            page = os.urandom(PAGE)
            waits: list[float] = []
            interval = 1.0 / rate
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                os.pwrite(descriptor, page, (len(waits) % PAGES) * PAGE)
                started = time.perf_counter()
                os.fdatasync(descriptor)
                waits.append(time.perf_counter() - started)
                time.sleep(max(0.0, interval - waits[-1]))
            return waits
        finally:
            os.close(descriptor)


def summary(waits: list[float]) -> dict[str, float | int]:
    """Count, p50, p99, p99.9 and longest (ms), and the counts at 20, 50 and 100 ms or more."""
    ordered = sorted(waits)

    def quantile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "flushes": len(ordered),
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "p999_ms": quantile(0.999),
        "max_ms": round(ordered[-1] * 1000, 1),
        "at_least_20_ms": sum(w >= 0.020 for w in ordered),
        "at_least_50_ms": sum(w >= 0.050 for w in ordered),
        "at_least_100_ms": sum(w >= 0.100 for w in ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=300.0, help="flushes per second")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rate <= 0:
        parser.error(f"--seconds {args.seconds} and --rate {args.rate} must both be positive")
    print(json.dumps(summary(flush_times(args.folder, args.seconds, args.rate))))


if __name__ == "__main__":
    main()
