"""``oligotrial init`` and ``oligotrial serve``: create or upgrade the EDC database, run the HTTP server."""

from __future__ import annotations

import socket
from pathlib import Path

import typer

from oligotrial.cli._common import JSON_OPTION, PROTOCOL_OPTION, handle_errors, print_json, stderr, stdout
from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.services import init_database
from oligotrial.settings import load_settings

__all__ = ["DATABASE_OPTION", "cli_source", "init", "read_secret_file", "serve"]

DATABASE_OPTION = typer.Option(
    None,
    "--database",
    help="Database URL (default: $OLIGOTRIAL_DATABASE_URL or sqlite:///./oligotrial-data/trial.db).",
)


_WORKER_HEALTHCHECK_SECONDS = 120
"""How long ``serve --workers N`` (N > 1) waits for a worker process to answer uvicorn's health checks."""


def cli_source() -> str:
    """Where a command-line change comes from, for the audit trail."""
    return f"cli:{socket.gethostname()}"


def read_secret_file(path: Path, option: str) -> str:
    """Read a password from a file (first line, without its line ending)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.single(
            "FILE-001", option, f"cannot read the password file: {exc.strerror}"
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise InputError.single("FILE-003", option, "the password file is empty")
    return lines[0]


@handle_errors
def init(
    database: str | None = DATABASE_OPTION,
    admin_user: str = typer.Option(..., "--admin-user", help="User name of the administrator to create."),
    admin_password_file: Path = typer.Option(
        ...,
        "--admin-password-file",
        help="File whose first line is the administrator's password.",
        dir_okay=False,
    ),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create the EDC database or upgrade it, non-interactively; refuse a database of another protocol."""
    settings = load_settings(database_url=database)
    protocol = load_protocol(protocol_file)
    password = read_secret_file(admin_password_file, "--admin-password-file")
    result = init_database(settings, protocol, admin_user, password, source=cli_source())
    if json_output:
        print_json(result)
        return
    action = "created" if result["schema_before"] is None else "upgraded"
    stdout.print(
        f"Database {result['database']} {action} (schema {result['schema']}) for protocol "
        f"{result['protocol_id']} {result['protocol_version']}."
    )
    who = "created" if result["admin_created"] else "already exists, left unchanged"
    stdout.print(f"Administrator {result['admin_user']}: {who}.")


def serve(
    database: str | None = DATABASE_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes (all share the database)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the HTTP API (``/api/v1``, docs at ``/docs``) with uvicorn."""
    import os

    import uvicorn

    from oligotrial.api.app import create_app
    from oligotrial.errors import OligotrialError
    from oligotrial.settings import check_settings

    try:
        settings = check_settings(load_settings(database_url=database))
        if workers == 1:
            application = create_app(settings)
    except OligotrialError as error:
        stderr.print("[bold red]error:[/] ", end="")
        stderr.print(str(error), markup=False)
        raise typer.Exit(error.exit_code) from None
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
    else:
        os.environ["OLIGOTRIAL_DATABASE_URL"] = settings.database_url
        uvicorn.run(
            "oligotrial.api.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            # uvicorn kills a worker that does not answer its health check within 5 s by default; on a busy
            # machine importing the application takes longer, and the workers were restarted forever.
            timeout_worker_healthcheck=_WORKER_HEALTHCHECK_SECONDS,
        )
