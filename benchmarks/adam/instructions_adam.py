"""The processor instructions of one ``derive_adam`` run on the benchmark study, counted by valgrind's callgrind
(Debian package ``valgrind``): a deterministic figure for old-against-new comparisons on a noisy machine.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/instructions_adam.py --tables DIR      # DIR from runs_adam.py --write-tables
    PYTHONPATH=/tmp/adam_old/src .venv/bin/python benchmarks/adam/instructions_adam.py --tables DIR

Runs itself under callgrind with the instrumentation off, derives ADaM twice (compiled kernels loaded, pools
started), switches the instrumentation on for one run and off again, and prints the instructions of that run
(every thread's, user space only: the kernel's page faults are not counted; callgrind runs the threads one at
a time). Takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def measured_run(tables_folder: Path) -> None:
    import polars as pl

    from oligotrial.endpoints import derive_adam
    from oligotrial.protocol import load_protocol

    tables = {path.stem: pl.read_ipc(path) for path in sorted(tables_folder.glob("*.arrow"))}
    protocol = load_protocol()
    for _ in range(2):
        derive_adam(tables, protocol)
    _callgrind("on")
    derive_adam(tables, protocol)
    _callgrind("off")


def _callgrind(state: str) -> None:
    subprocess.run(
        ["callgrind_control", f"--instr={state}", str(os.getpid())], check=True, capture_output=True
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=Path, required=True, help="a folder of DM.arrow, RS.arrow, ...")
    parser.add_argument("--measured-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured_run:
        measured_run(args.tables)
        return
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        subprocess.run(
            [*command, sys.executable, __file__, "--tables", str(args.tables), "--measured-run"],
            check=True,
            capture_output=True,
        )
        totals = subprocess.run(["callgrind_annotate", str(out)], check=True, capture_output=True, text=True)
    line = next(line for line in totals.stdout.splitlines() if "PROGRAM TOTALS" in line)
    print(f"{int(line.split()[0].replace(',', '')) / 1e6:,.1f} million instructions per derive_adam run")


if __name__ == "__main__":
    main()
