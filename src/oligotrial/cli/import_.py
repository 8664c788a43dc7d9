"""``oligotrial import odm FILE [--dry-run] [--mapping FILE]``: CDISC ODM ClinicalData into the EDC through
the use cases a site uses (:func:`oligotrial.services.odm_import.import_odm`); all or nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    print_json,
    progress_bar,
    read_json_file,
    stdout,
)
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.errors import InputError, Problem
from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Role, open_edc
from oligotrial.services.odm_import import import_odm
from oligotrial.settings import load_settings

__all__ = ["app", "odm"]

app = typer.Typer(help="Import data from other systems.", no_args_is_help=True)


@app.command("odm")
@handle_errors
def odm(
    file: Path = typer.Argument(..., help="ODM 1.3.2 XML file with ClinicalData.", dir_okay=False),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would be created or changed; write nothing."
    ),
    mapping_file: Path | None = typer.Option(
        None,
        "--mapping",
        help="JSON mapping of foreign OIDs (study_events, forms, item_groups, items, sites).",
    ),
    reason: str = typer.Option("imported from an ODM file", "--reason", help="Reason recorded for changes."),
    database: str | None = DATABASE_OPTION,
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import ODM ClinicalData; exit 2 with a located error per unmappable item or refused form, nothing
    written."""
    try:
        document = file.read_bytes()
    except OSError as exc:
        raise InputError.single("FILE-001", str(file), f"cannot read the ODM file: {exc.strerror}") from None
    mapping = read_json_file(mapping_file, "mapping") if mapping_file is not None else None
    protocol = load_protocol(protocol_file)
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    # The operator imports as a study-wide investigator (data entry) who may also register missing sites.
    actor = Actor(
        None,
        "system",
        "ODM import (command line)",
        frozenset({(Role.ADMINISTRATOR, None), (Role.INVESTIGATOR, None)}),
        cli_source(),
    )
    try:
        with progress_bar("ODM import", json_output) as progress:
            report = import_odm(
                edc,
                actor,
                document,
                mapping=mapping,
                is_dry_run=dry_run,
                reason=reason,
                protocol=protocol,
                progress=progress,
            )
    finally:
        edc.engine.dispose()
    if report.problems:
        problems = [Problem(p.code, p.field, p.message, p.value) for p in report.problems]
        raise InputError(problems)
    if json_output:
        print_json(report.to_dict())
        return
    counts = report.counts()
    verb = "would be" if dry_run else "were"
    stdout.print(
        f"{counts['create']} forms {verb} created, {counts['change']} changed, {counts['unchanged']} unchanged; "
        f"{len(report.subjects_created)} subjects and {len(report.sites_created)} sites {verb} created."
    )
    for action in report.actions:
        if action.action != "unchanged":
            detail = f" ({', '.join(action.changed_items)})" if action.changed_items else ""
            stdout.print(
                f"  {action.action} {action.subject} {action.event_code} {action.form_code}{detail}",
                markup=False,
            )
