"""Time every ``oligotrial export`` command against an EDC database, as an operator runs them.

Usage::

    oligotrial synth --subjects 1000 --database sqlite:///trial1000.db
    python benchmarks/exports/bench_database_exports.py sqlite:///trial1000.db --runs 3

Each command (``sdtm``, ``adam``, ``odm``, ``fhir``, ``define``) is run as its own process (``--json``, so
the timings include start-up, reading the database and writing the files) ``--runs`` times; the wall time
and the peak resident memory of each process are measured (``os.wait4``). Before timing, each command is run
once without ``--json`` and its stderr is kept, to check that it shows its progress bar. The machine's load
average (``/proc/loadavg``) is read before and after. Prints one JSON document.

Every export is audited, so each run appends one entry to the database's audit trail; nothing else changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMANDS: dict[str, list[str]] = {
    "sdtm": ["sdtm", "--out", "{dir}/sdtm", "--format", "csv"],
    "adam": ["adam", "--out", "{dir}/adam", "--format", "csv"],
    "odm": ["odm", "--out", "{dir}/trial.xml"],
    "fhir": ["fhir", "--out", "{dir}/bundle.json"],
    "define": ["define", "--out", "{dir}/define.xml", "--standard", "sdtm"],
}
BARS = {
    "sdtm": "SDTM export",
    "adam": "ADaM export",
    "odm": "ODM export",
    "fhir": "FHIR export",
    "define": "Define-XML export",
}


def _cli() -> list[str]:
    found = shutil.which("oligotrial") or str(Path(sys.executable).with_name("oligotrial"))
    return [found]


def _run(argv: list[str]) -> tuple[float, float, int, str, str]:
    """Wall seconds, peak RSS (MB), exit code, stdout and stderr of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            wall,
            usage.ru_maxrss / 1024,
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database", help="Database URL (e.g. sqlite:///trial1000.db).")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(COMMANDS), help="Commands to run (default all).")
    args = parser.parse_args()
    chosen = args.only or list(COMMANDS)
    report: dict[str, Any] = {
        "database": args.database,
        "runs": args.runs,
        "load_before": _load(),
        "commands": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen:
            argv = [
                *_cli(),
                "export",
                *(a.format(dir=folder) for a in COMMANDS[name]),
                "--database",
                args.database,
            ]
            _, _, code, _, stderr = _run(argv)
            if code != 0:
                raise SystemExit(f"{name} failed ({code}): {stderr[-2000:]}")
            bar_lines = [line for line in stderr.splitlines() if BARS[name] in line]
            walls, peaks = [], []
            document: dict[str, Any] = {}
            for _ in range(args.runs):
                wall, peak, code, stdout, stderr = _run([*argv, "--json"])
                if code != 0:
                    raise SystemExit(f"{name} failed ({code}): {stderr[-2000:]}")
                walls.append(wall)
                peaks.append(peak)
                document = json.loads(stdout)
            target = Path(COMMANDS[name][2].format(dir=folder))
            report["commands"][name] = {
                "wall_seconds": {
                    "median": round(statistics.median(walls), 2),
                    "min": round(min(walls), 2),
                    "max": round(max(walls), 2),
                },
                "peak_rss_mb": round(max(peaks)),
                "output_mb": round(_size(target) / 1e6, 1),
                "progress_bars": [line.strip() for line in bar_lines],
                "result": {k: v for k, v in document.items() if k not in ("out", "files", "problems")},
            }
            print(f"{name}: {report['commands'][name]['wall_seconds']}", file=sys.stderr)
    report["load_after"] = _load()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
