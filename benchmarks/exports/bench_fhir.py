"""Time the SDTM -> FHIR R5 mapping and its validation on synthetic subjects.

Usage: ``python benchmarks/exports/bench_fhir.py SDTM_DIR [--runs 3]`` where SDTM_DIR was written by
``oligotrial synth --subjects 1000 --out SDTM_DIR``. Prints one JSON document: subjects, resources, median
seconds of ``derive_fhir_bundle`` (mapping) and of ``check_fhir_bundle`` (fhir.resources R5 models + our
value sets), and of writing the JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets
from oligotrial.exports.fhir import check_fhir_bundle, derive_fhir_bundle
from oligotrial.protocol import load_protocol


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sdtm", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    protocol = load_protocol()
    tables = read_datasets(args.sdtm, DOMAINS)
    mapping, checking, writing = [], [], []
    bundle: dict = {}
    for _ in range(args.runs):
        start = time.perf_counter()
        bundle = derive_fhir_bundle(tables, protocol)
        mapping.append(time.perf_counter() - start)
        start = time.perf_counter()
        check_fhir_bundle(bundle)
        checking.append(time.perf_counter() - start)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "bundle.json").write_text(json.dumps(bundle, indent=1), encoding="utf-8")
        writing.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "subjects": tables["DM"].height,
                "resources": len(bundle["entry"]),
                "runs": args.runs,
                "median_seconds": {
                    "derive_fhir_bundle": round(statistics.median(mapping), 2),
                    "check_fhir_bundle": round(statistics.median(checking), 2),
                    "write_json": round(statistics.median(writing), 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
