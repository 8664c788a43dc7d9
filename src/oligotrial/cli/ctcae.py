"""``oligotrial ctcae import|search|show``: load the CTCAE terminology from NCI's workbook and look terms up."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.services import Actor, open_edc
from oligotrial.services import ctcae as ctcae_services
from oligotrial.settings import load_settings

__all__ = ["app", "import_workbook", "search", "show"]

app = typer.Typer(help="CTCAE terminology (adverse event terms and grades).", no_args_is_help=True)


@app.command("import")
@handle_errors
def import_workbook(
    file: Path = typer.Argument(
        ..., help="NCI's CTCAE workbook (.xlsx), e.g. CTCAE_v5.0_2017-11-27.xlsx.", dir_okay=False
    ),
    version: str | None = typer.Option(None, "--version", help="CTCAE version (default: the protocol's)."),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Load the terms and grade definitions of a CTCAE workbook (replaces an earlier import)."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        status = ctcae_services.import_ctcae_workbook(edc, Actor.system(cli_source()), file, version=version)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(status.model_dump(mode="json"))
    else:
        stdout.print(
            f"CTCAE v{status.version}: {status.terms} terms in {status.socs} system organ classes "
            f"imported from {status.file_name} (sha256 {status.sha256})."
        )


@app.command("search")
@handle_errors
def search(
    query: str = typer.Argument("", help="Part of a term (case-insensitive)."),
    soc: str | None = typer.Option(None, "--soc", help="Part of a system organ class."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Search terms by name and system organ class."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        views, total = ctcae_services.search_ctcae_terms(
            edc, Actor.system(cli_source()), query=query or None, soc=soc, limit=limit
        )
    finally:
        edc.engine.dispose()
    if json_output:
        print_json({"items": [v.model_dump(mode="json") for v in views], "total": total})
        return
    table = Table("term", "system organ class", "grades", "source")
    for v in views:
        table.add_row(v.term, v.soc, ",".join(map(str, v.applicable_grades)), v.source)
    stdout.print(table)
    stdout.print(f"{len(views)} of {total} terms.")


@app.command("show")
@handle_errors
def show(
    term: str = typer.Argument(..., help="The exact term."),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show a term with the definition of each grade."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        view = ctcae_services.show_ctcae_term(edc, Actor.system(cli_source()), term)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(view.model_dump(mode="json"))
        return
    stdout.print(f"{view.term} ({view.soc})", markup=False)
    for grade, text in view.grades.items():
        stdout.print(f"  grade {grade}: {text if text is not None else '-'}", markup=False)
