"""``oligotrial adam SDTM_DIR --out ADAM_DIR``: derive ADSL, ADRS, ADTTE and ADAE from SDTM datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import typer

from oligotrial import __version__
from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    parse_dataset_formats,
    print_json,
    progress_steps,
    stderr,
    stdout,
)
from oligotrial.endpoints import AdamDatasets, derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets, write_datasets
from oligotrial.exports.define import build_define
from oligotrial.protocol import load_protocol


@handle_errors
def adam(
    sdtm_dir: Path = typer.Argument(..., help="Folder of SDTM datasets (CSV or XPT, one file per domain)."),
    out: Path = typer.Option(..., "--out", help="Folder to write adsl, adrs, adtte, adae into."),
    protocol_file: Path | None = PROTOCOL_OPTION,
    output_format: str = typer.Option("csv", "--format", help="csv, xpt or both."),
    confirm_days: int | None = typer.Option(
        None, "--confirm-days", help="Override response.confirmation_min_days."
    ),
    max_ne: int | None = typer.Option(
        None, "--max-ne", help="Override response.max_ne_between_confirmation."
    ),
    min_sd_days: int | None = typer.Option(None, "--min-sd-days", help="Override response.sd_min_days."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Derive the ADaM datasets (with define.xml for XPT); on any error nothing is written to --out."""
    formats = parse_dataset_formats(output_format)
    protocol = load_protocol(protocol_file)
    steps = ["reading SDTM files", "deriving ADaM", "writing files"]
    with progress_steps("ADaM", steps, json_output) as start:
        start(steps[0])
        tables = read_datasets(sdtm_dir, DOMAINS)
        start(steps[1])
        datasets = derive_adam(
            tables,
            protocol,
            confirmation_min_days=confirm_days,
            max_ne_between_confirmation=max_ne,
            sd_min_days=min_sd_days,
        )
        start(steps[2])
        written = write_datasets(datasets.as_dict(), out, formats)
        if "xpt" in formats:
            define = out / "define.xml"
            define.write_bytes(build_define(datasets.as_dict(), protocol))
            written.append(define)
    summary = _summary(datasets)
    provenance = {
        "software": f"oligotrial {__version__}",
        "protocol": {"id": protocol.protocol.id, "version": protocol.protocol.version},
        "settings": {
            "confirmation_min_days": protocol.response.confirmation_min_days
            if confirm_days is None
            else confirm_days,
            "max_ne_between_confirmation": protocol.response.max_ne_between_confirmation
            if max_ne is None
            else max_ne,
            "sd_min_days": protocol.response.sd_min_days if min_sd_days is None else min_sd_days,
        },
        "inputs": {path.name: _sha256(path) for path in sorted(sdtm_dir.iterdir()) if path.is_file()},
        "outputs": [path.name for path in written],
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    if json_output:
        print_json({**summary, "out": str(out), "files": [p.name for p in written]})
        return
    for line in _render(summary):
        stdout.print(line)
    stderr.print(f"wrote {', '.join(p.name for p in written)} and provenance.json to {out}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _summary(datasets: AdamDatasets) -> dict[str, Any]:
    adsl = datasets.adsl
    by_param = (
        datasets.adtte.group_by("PARAMCD", maintain_order=True)
        .agg(
            pl.len().alias("subjects"),
            (pl.col("CNSR") == 0).sum().alias("events"),
            (pl.col("CNSR") > 0).sum().alias("censored"),
        )
        .to_dicts()
    )
    responses = datasets.adrs.filter(pl.col("PARAMCD").is_in(["CRSP", "CB"]))
    rates = responses.group_by("PARAMCD").agg(
        (pl.col("AVALC") == "Y").sum().alias("yes"), pl.len().alias("n")
    )
    counts: dict[str, int] = {
        "subjects": adsl.height,
        "enrolled": adsl.filter(pl.col("ENRLFL") == "Y").height,
        "randomized": adsl.filter(pl.col("ITTFL") == "Y").height,
        "safety": adsl.filter(pl.col("SAFFL") == "Y").height,
    }
    return {
        **counts,
        "time_to_event": by_param,
        "responses": {row["PARAMCD"]: {"yes": row["yes"], "n": row["n"]} for row in rates.to_dicts()},
        "adverse_events": {
            "records": datasets.adae.height,
            "treatment_emergent": datasets.adae.filter(pl.col("TRTEMFL") == "Y").height,
        },
    }


def _render(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"{summary['subjects']} subjects: {summary['enrolled']} enrolled, {summary['randomized']} randomized, "
        f"{summary['safety']} in the safety population"
    ]
    for row in summary["time_to_event"]:
        lines.append(
            f"{row['PARAMCD']}: {row['subjects']} subjects, {row['events']} events, {row['censored']} censored"
        )
    for name, row in summary["responses"].items():
        lines.append(f"{name}: {row['yes']} of {row['n']}")
    ae = summary["adverse_events"]
    lines.append(f"AE: {ae['records']} records, {ae['treatment_emergent']} treatment-emergent")
    return lines
