"""``oligotrial export sdtm|adam|define|odm|fhir --out ...``: the captured data in data standards.

``sdtm``: SDTM datasets (CSV/XPORT); ``adam``: ADaM derived from them; ``define``: Define-XML 2.1 of either;
``odm``: CDISC ODM 1.3.2 (metadata, forms, audit records); ``fhir``: a FHIR R5 collection Bundle. ``adam``,
``define`` and ``fhir`` read the database or, with ``--sdtm DIR``, SDTM files exported by any EDC.

Every command shows a rich progress bar on stderr (hidden with ``--json``): per subject where the export
reports it (``odm``, the mapping of ``fhir``), else per step (reading, deriving, validating, writing).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl
import typer

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    parse_dataset_formats,
    print_json,
    progress_bar,
    progress_steps,
    stderr,
    stdout,
)
from oligotrial.cli.adam import (
    CONFIRM_DAYS_OPTION,
    DERIVING_ADAM,
    MAX_NE_OPTION,
    MIN_SD_DAYS_OPTION,
    READING_FILES,
    WRITING_FILES,
    derive_and_write,
    file_digests,
    print_outcome,
    response_overrides,
)
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.endpoints import derive_adam
from oligotrial.errors import InputError, Problem
from oligotrial.exports.datasets import csv_digest, dataset_file_name, read_datasets, write_datasets
from oligotrial.exports.define import build_define
from oligotrial.exports.fhir import check_fhir_bundle, derive_fhir_bundle
from oligotrial.exports.odm import export_odm
from oligotrial.exports.sdtm import SDTM_DOMAINS, derive_sdtm
from oligotrial.protocol import Protocol, load_protocol
from oligotrial.services import Actor, Role, open_edc
from oligotrial.settings import load_settings

__all__ = ["adam", "app", "define", "fhir", "odm", "sdtm"]

app = typer.Typer(help="Export the captured data in data standards.", no_args_is_help=True)


@app.command("sdtm")
@handle_errors
def sdtm(
    out: Path = typer.Option(..., "--out", help="Folder to write one file per domain into."),
    output_format: str = typer.Option("csv", "--format", help="csv, xpt or both."),
    database: str | None = DATABASE_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write DM, SUPPDM, DS, EX, PR, CM, AE, SUPPAE, TU, TR, RS, SV, DV, TS, TA, TE, TV; nothing is written on
    error."""
    formats = parse_dataset_formats(output_format)
    protocol = load_protocol(protocol_file)
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    # The operator exports as a study-wide statistician would (read and export, no data entry); audited.
    try:
        with progress_steps("SDTM export", [_FROM_DATABASE, WRITING_FILES], json_output) as start:
            start(_FROM_DATABASE)
            tables, problems = derive_sdtm(edc, _statistician(), protocol=protocol)
            start(WRITING_FILES)
            written = write_datasets(tables, out, formats)
    finally:
        edc.engine.dispose()
    result: dict[str, Any] = {
        "files": [str(p) for p in written],
        "records": {name: frame.height for name, frame in tables.items()},
        "problems": [p.to_dict() for p in problems],
    }
    if json_output:
        print_json(result)
        return
    counts = ", ".join(f"{name} {n}" for name, n in result["records"].items())
    stdout.print(f"SDTM written to {out}: {counts}.")
    _print_not_exported(problems)


def _statistician() -> Actor:
    return Actor(
        None, "system", "System (command line)", frozenset({(Role.STATISTICIAN, None)}), cli_source()
    )


_FROM_DATABASE = "SDTM from the database"


def _source_step(sdtm_dir: Path | None) -> str:
    return READING_FILES if sdtm_dir is not None else _FROM_DATABASE


def _sdtm_tables(database: str | None, sdtm_dir: Path | None, protocol: Protocol) -> dict[str, pl.DataFrame]:
    """SDTM from a folder of SDTM files (any EDC's) or derived from the database."""
    if sdtm_dir is not None:
        return read_datasets(sdtm_dir, SDTM_DOMAINS)
    return _database_sdtm(database, protocol)[0]


def _database_sdtm(
    database: str | None, protocol: Protocol
) -> tuple[dict[str, pl.DataFrame], list[Problem], str]:
    """SDTM derived from the database, the problems that kept records out, and the database (no password)."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        tables, problems = derive_sdtm(edc, _statistician(), protocol=protocol)
        return tables, problems, edc.engine.url.render_as_string(hide_password=True)
    finally:
        edc.engine.dispose()


def _print_not_exported(problems: list[Problem]) -> None:
    for problem in problems:
        stderr.print(f"not exported: {problem.code} {problem.field}: {problem.message}", markup=False)


SDTM_DIR_OPTION = typer.Option(
    None,
    "--sdtm",
    help="Read SDTM files (CSV or XPT) from this folder instead of the database.",
    file_okay=False,
)


@app.command("odm")
@handle_errors
def odm(
    out: Path = typer.Option(..., "--out", help="ODM 1.3.2 XML file to write.", dir_okay=False),
    database: str | None = DATABASE_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the study metadata and every subject's forms with audit records as CDISC ODM 1.3.2."""
    protocol = load_protocol(protocol_file)
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        with progress_bar("ODM export", json_output) as progress:
            document = export_odm(edc, _statistician(), protocol=protocol, progress=progress)
    finally:
        edc.engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(document)
    root = ET.fromstring(document)  # noqa: S314 (our own document)
    counts = {
        "subjects": sum(1 for e in root.iter() if e.tag.endswith("}SubjectData")),
        "forms": sum(1 for e in root.iter() if e.tag.endswith("}FormData")),
    }
    if json_output:
        print_json({"out": str(out), **counts})
        return
    stdout.print(f"ODM written to {out}: {counts['subjects']} subjects, {counts['forms']} forms.")


@app.command("fhir")
@handle_errors
def fhir(
    out: Path = typer.Option(..., "--out", help="FHIR R5 Bundle (JSON) file to write.", dir_okay=False),
    database: str | None = DATABASE_OPTION,
    sdtm_dir: Path | None = SDTM_DIR_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the study and every subject as one FHIR R5 collection Bundle, validated before it is written."""
    protocol = load_protocol(protocol_file)
    with progress_steps("FHIR export", [_source_step(sdtm_dir)], json_output) as start:
        start(_source_step(sdtm_dir))
        tables = _sdtm_tables(database, sdtm_dir, protocol)
    with progress_bar("FHIR export: subjects", json_output) as progress:
        bundle = derive_fhir_bundle(tables, protocol, progress=progress)
    with progress_steps(
        "FHIR export", ["validating (R5 models, value sets)", WRITING_FILES], json_output
    ) as start:
        start("validating (R5 models, value sets)")
        check_fhir_bundle(bundle)
        start(WRITING_FILES)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(bundle, indent=1, ensure_ascii=False), encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    if json_output:
        print_json({"out": str(out), "resources": counts})
        return
    stdout.print(f"FHIR Bundle written to {out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()) + ".")


@app.command("adam")
@handle_errors
def adam(
    out: Path = typer.Option(..., "--out", help="Folder to write adsl, adrs, adtte, adae, adtr into."),
    output_format: str = typer.Option("csv", "--format", help="csv, xpt or both (xpt adds define.xml)."),
    database: str | None = DATABASE_OPTION,
    sdtm_dir: Path | None = SDTM_DIR_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    confirm_days: int | None = CONFIRM_DAYS_OPTION,
    max_ne: int | None = MAX_NE_OPTION,
    min_sd_days: int | None = MIN_SD_DAYS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Derive the ADaM datasets from the database (or SDTM files) and write them as ``oligotrial adam`` does,
    ``provenance.json`` included; nothing is written on error."""
    formats = parse_dataset_formats(output_format)
    protocol = load_protocol(protocol_file)
    steps = [_source_step(sdtm_dir), DERIVING_ADAM, WRITING_FILES]
    with progress_steps("ADaM export", steps, json_output) as start:
        start(_source_step(sdtm_dir))
        problems: list[Problem] = []  # records the database could not export (open RECIST queries)
        if sdtm_dir is not None:
            tables = read_datasets(sdtm_dir, SDTM_DOMAINS)
            inputs: dict[str, Any] = file_digests(sdtm_dir)
            from_database: dict[str, Any] = {}
        else:
            tables, problems, source = _database_sdtm(database, protocol)
            from_database = {"not_exported": [problem.to_dict() for problem in problems]}
            inputs = {
                "database": source,
                "sdtm": {dataset_file_name(name, "csv"): csv_digest(frame) for name, frame in tables.items()},
                **from_database,
            }
        datasets, written = derive_and_write(
            tables,
            protocol,
            out,
            formats,
            overrides=response_overrides(confirm_days, max_ne, min_sd_days),
            inputs=inputs,
            start=start,
        )
    print_outcome(datasets, out, written, json_output, from_database)
    if not json_output:
        _print_not_exported(problems)


@app.command("define")
@handle_errors
def define(
    out: Path = typer.Option(..., "--out", help="define.xml file to write.", dir_okay=False),
    standard: str = typer.Option("sdtm", "--standard", help="sdtm or adam: which datasets to describe."),
    database: str | None = DATABASE_OPTION,
    sdtm_dir: Path | None = SDTM_DIR_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the Define-XML 2.1 document of the SDTM or ADaM datasets (XPORT file links)."""
    if standard not in ("sdtm", "adam"):
        raise InputError.single("CLI-002", "--standard", "expected sdtm or adam", value=standard)
    protocol = load_protocol(protocol_file)
    steps = [_source_step(sdtm_dir), *([DERIVING_ADAM] if standard == "adam" else []), "writing define.xml"]
    with progress_steps("Define-XML export", steps, json_output) as start:
        start(_source_step(sdtm_dir))
        tables = _sdtm_tables(database, sdtm_dir, protocol)
        if standard == "adam":
            start(DERIVING_ADAM)
        datasets = derive_adam(tables, protocol).as_dict() if standard == "adam" else tables
        start("writing define.xml")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(build_define(datasets, protocol))
    if json_output:
        print_json({"out": str(out), "datasets": list(datasets)})
        return
    stdout.print(f"define.xml written to {out}: {', '.join(datasets)}.")
