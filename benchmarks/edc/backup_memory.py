"""Peak memory and wall clock of ``oligotrial backup`` and ``oligotrial restore`` on a large SQLite database.

Usage (from the repository root; the database and the measuring come from the tests' helpers,
``tests/edc_fixtures.py``, as ``tests/services/test_backup_file.py`` uses them)::

    .venv/bin/python benchmarks/edc/backup_memory.py [--entries 300000] [--work build/backup-memory]

Builds a database (``init``, then ``--entries`` chained audit entries of the size a form change writes:
twelve items, old and new values), then runs each command as a process of its own and reads its peak resident
memory (``VmHWM``, the high-water mark of the command's own process) and its wall clock. The restore goes
into a new, empty database and verifies the chain as usual.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from edc_fixtures import ADMIN, ADMIN_PASSWORD, append_form_changes, edc_settings, peak_megabytes
from oligotrial.protocol import load_protocol
from oligotrial.services import init_database


def measure(work: Path, *args: str) -> tuple[float, float]:
    """Peak resident memory (MB) and wall clock (s) of ``oligotrial ARGS`` in a process of its own."""
    started = time.perf_counter()
    megabytes = peak_megabytes(work, *args)
    return megabytes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--work", type=Path, default=Path("build/backup-memory"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    source, target = args.work / "trial.db", args.work / "restored.db"
    url = f"sqlite:///{source}"
    init_database(edc_settings(url), load_protocol(), ADMIN, ADMIN_PASSWORD)
    print(f"appending {args.entries:,} audit entries ...", flush=True)
    append_form_changes(url, args.entries)
    print(f"database: {args.entries:,} audit entries, {source.stat().st_size / 2**20:.0f} MB")
    backup = args.work / "trial.json.gz"
    print("| command | peak memory MB | wall s |")
    print("|---|---|---|")
    for name, command in (
        ("backup", ("backup", str(backup), "--database", f"sqlite:///{source}")),
        ("restore", ("restore", str(backup), "--database", f"sqlite:///{target}")),
    ):
        megabytes, seconds = measure(args.work, *command)
        print(f"| {name} | {megabytes:.0f} | {seconds:.1f} |")
    print(f"backup file: {backup.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
