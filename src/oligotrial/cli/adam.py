"""``oligotrial adam SDTM_DIR --out ADAM_DIR``: derive ADSL, ADRS, ADTTE and ADAE from SDTM datasets.

:func:`derive_and_write` is also ``oligotrial export adam``'s (SDTM from the database or a folder): both
commands take the same response-setting overrides and write the same files, ``provenance.json`` included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
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
from oligotrial.exports.datasets import DatasetFormat, dataset_file_name, read_datasets, write_datasets
from oligotrial.exports.define import build_define
from oligotrial.protocol import Protocol, load_protocol

READING_FILES = "reading SDTM files"
DERIVING_ADAM = "deriving ADaM"
WRITING_FILES = "writing files"

CONFIRM_DAYS_OPTION = typer.Option(None, "--confirm-days", help="Override response.confirmation_min_days.")
MAX_NE_OPTION = typer.Option(None, "--max-ne", help="Override response.max_ne_between_confirmation.")
MIN_SD_DAYS_OPTION = typer.Option(None, "--min-sd-days", help="Override response.sd_min_days.")


@handle_errors
def adam(
    sdtm_dir: Path = typer.Argument(..., help="Folder of SDTM datasets (CSV or XPT, one file per domain)."),
    out: Path = typer.Option(..., "--out", help="Folder to write adsl, adrs, adtte, adae into."),
    protocol_file: Path | None = PROTOCOL_OPTION,
    output_format: str = typer.Option("csv", "--format", help="csv, xpt or both."),
    confirm_days: int | None = CONFIRM_DAYS_OPTION,
    max_ne: int | None = MAX_NE_OPTION,
    min_sd_days: int | None = MIN_SD_DAYS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Derive the ADaM datasets (with define.xml for XPT); on any error nothing is written to --out."""
    formats = parse_dataset_formats(output_format)
    protocol = load_protocol(protocol_file)
    with progress_steps("ADaM", [READING_FILES, DERIVING_ADAM, WRITING_FILES], json_output) as start:
        start(READING_FILES)
        tables = read_datasets(sdtm_dir, DOMAINS)
        datasets, written = derive_and_write(
            tables,
            protocol,
            out,
            formats,
            overrides=response_overrides(confirm_days, max_ne, min_sd_days),
            inputs=file_digests(sdtm_dir),
            start=start,
        )
    print_outcome(datasets, out, written, json_output)


def response_overrides(
    confirm_days: int | None, max_ne: int | None, min_sd_days: int | None
) -> dict[str, int | None]:
    """The command line's response settings as :func:`~oligotrial.endpoints.derive_adam` takes them."""
    return {
        "confirmation_min_days": confirm_days,
        "max_ne_between_confirmation": max_ne,
        "sd_min_days": min_sd_days,
    }


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of the dataset files (CSV, XPT) of ``folder``, by name: the inputs as ``provenance.json``
    records them."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in {".csv", ".xpt"}
    }


def derive_and_write(
    tables: Mapping[str, pl.DataFrame],
    protocol: Protocol,
    out: Path,
    formats: list[DatasetFormat],
    *,
    overrides: Mapping[str, int | None],
    inputs: Mapping[str, Any],
    start: Callable[[str], None],
) -> tuple[AdamDatasets, list[Path]]:
    """Derive ADaM and write it into ``out`` with define.xml (XPT) and ``provenance.json``, all or nothing.

    ``provenance.json`` names the software, the protocol, the response settings in force (the protocol's,
    or ``overrides`` where given), ``inputs`` (what the SDTM came from) and the files written.
    """
    start(DERIVING_ADAM)
    datasets = derive_adam(tables, protocol, **overrides)
    start(WRITING_FILES)
    frames = datasets.as_dict()
    files = {"define.xml": build_define(frames, protocol)} if "xpt" in formats else {}
    names = sorted([*(dataset_file_name(name, fmt) for name in frames for fmt in formats), *files])
    settings = {
        name: getattr(protocol.response, name) if value is None else value
        for name, value in overrides.items()
    }
    provenance = {
        "software": f"oligotrial {__version__}",
        "protocol": {"id": protocol.protocol.id, "version": protocol.protocol.version},
        "settings": settings,
        "inputs": dict(inputs),
        "outputs": names,
    }
    files["provenance.json"] = json.dumps(provenance, indent=2).encode("utf-8")
    return datasets, write_datasets(frames, out, formats, files)


def print_outcome(
    datasets: AdamDatasets,
    out: Path,
    written: list[Path],
    json_output: bool,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The derivation's summary (populations, events and censorings, response rates) on stdout; ``extra`` is
    added to the JSON document."""
    summary = _summary(datasets)
    if json_output:
        print_json({**summary, "out": str(out), "files": [p.name for p in written], **(extra or {})})
        return
    for line in _render(summary):
        stdout.print(line)
    stderr.print(f"wrote {', '.join(p.name for p in written)} to {out}")


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
        "records": {name: frame.height for name, frame in datasets.as_dict().items()},
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
