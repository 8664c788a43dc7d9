"""``oligotrial sites add|list|set-time-zone``: manage the participating centres from the server's command line."""

from __future__ import annotations

import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.services import Actor, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.settings import load_settings

__all__ = ["add", "app", "list_sites", "set_time_zone"]

app = typer.Typer(help="Manage sites (centres) and their time zones.", no_args_is_help=True)

TIME_ZONE_HELP = (
    "IANA time zone in which the site's pages show timestamps, e.g. Asia/Shanghai (stored in UTC)."
)


@app.command("add")
@handle_errors
def add(
    code: str = typer.Argument(..., help="Site code: 2-12 upper-case letters or digits, e.g. CN01."),
    name: str = typer.Option(..., "--name", help="Name of the centre."),
    time_zone: str | None = typer.Option(
        None, "--time-zone", help=TIME_ZONE_HELP + " Default: $OLIGOTRIAL_DEFAULT_SITE_TIME_ZONE."
    ),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Register a site."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        view = admin_services.create_site(edc, Actor.system(cli_source()), code, name, time_zone)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(view.model_dump(mode="json"))
    else:
        stdout.print(f"Site {view.code} created (time zone {view.time_zone}).")


@app.command("list")
@handle_errors
def list_sites(database: str | None = DATABASE_OPTION, json_output: bool = JSON_OPTION) -> None:
    """List the sites with their time zones."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        views = admin_services.list_sites(edc, Actor.system(cli_source()))
    finally:
        edc.engine.dispose()
    if json_output:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table("site", "name", "active", "time zone")
    for v in views:
        table.add_row(v.code, v.name, "yes" if v.is_active else "no", v.time_zone)
    stdout.print(table)


@app.command("set-time-zone")
@handle_errors
def set_time_zone(
    code: str = typer.Argument(..., help="Site code."),
    time_zone: str = typer.Argument(..., help=TIME_ZONE_HELP),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Change the time zone a site's pages show timestamps in (recorded in the audit trail)."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        view = admin_services.set_site_time_zone(edc, Actor.system(cli_source()), code, time_zone)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(view.model_dump(mode="json"))
    else:
        stdout.print(f"Site {view.code} now shows times in {view.time_zone}.")
