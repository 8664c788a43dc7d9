"""``oligotrial users add|list|disable``: manage accounts from the server's command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source, read_secret_file
from oligotrial.errors import InputError
from oligotrial.services import Actor, Role, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.settings import load_settings

__all__ = ["add", "app", "disable", "list_users", "parse_role"]

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


def parse_role(text: str) -> tuple[Role, str | None]:
    """``ROLE`` (study-wide) or ``ROLE@SITE``, e.g. ``investigator@CN01``."""
    role, _, site = text.partition("@")
    try:
        return Role(role), site or None
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InputError.single(
            "CLI-010", "--role", f"expected ROLE or ROLE@SITE with ROLE one of {choices}", value=text
        ) from None


@app.command("add")
@handle_errors
def add(
    username: str = typer.Argument(..., help="User name (lower case)."),
    full_name: str = typer.Option(..., "--full-name", help="Printed name, shown with signatures."),
    password_file: Path = typer.Option(
        ..., "--password-file", help="File whose first line is the password.", dir_okay=False
    ),
    role: list[str] = typer.Option([], "--role", help="ROLE or ROLE@SITE; repeat for several."),
    email: str = typer.Option("", "--email"),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an account with roles."""
    roles = [parse_role(r) for r in role]
    password = read_secret_file(password_file, "--password-file")
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        view = admin_services.create_user(
            edc, Actor.system(cli_source()), username, password, full_name, email, roles
        )
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(view.model_dump(mode="json"))
    else:
        stdout.print(f"User {view.username} created.")


@app.command("list")
@handle_errors
def list_users(database: str | None = DATABASE_OPTION, json_output: bool = JSON_OPTION) -> None:
    """List accounts with their roles."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        views = admin_services.list_users(edc, Actor.system(cli_source()))
    finally:
        edc.engine.dispose()
    if json_output:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table("user", "name", "active", "locked", "roles")
    for v in views:
        roles = ", ".join(f"{r.role}@{r.site}" if r.site else r.role for r in v.roles)
        table.add_row(
            v.username, v.full_name, "yes" if v.is_active else "no", "yes" if v.is_locked else "no", roles
        )
    stdout.print(table)


@app.command("disable")
@handle_errors
def disable(
    username: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit trail)."),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Disable an account and revoke its tokens."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        view = admin_services.disable_user(edc, Actor.system(cli_source()), username, reason)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(view.model_dump(mode="json"))
    else:
        stdout.print(f"User {view.username} disabled.")
