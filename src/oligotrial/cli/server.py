"""``oligotrial init`` and ``oligotrial serve``: create or upgrade the EDC database, run the HTTP server."""

from __future__ import annotations

import gc
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from oligotrial.cli._common import JSON_OPTION, PROTOCOL_OPTION, handle_errors, print_json, stderr, stdout
from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.services import init_database
from oligotrial.settings import load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DATABASE_OPTION", "cli_source", "init", "read_secret_file", "serve", "worker_application"]

DATABASE_OPTION = typer.Option(
    None,
    "--database",
    help="Database URL (default: $OLIGOTRIAL_DATABASE_URL or sqlite:///./oligotrial-data/trial.db).",
)


_LOOP, _HTTP = "uvloop", "httptools"
"""uvicorn's event loop and HTTP parser: uvloop and httptools (both C; less CPU per request than asyncio's
loop and h11)."""

_GIL_SWITCH_INTERVAL_SECONDS = 0.0005
"""How long a server thread may run Python before handing the GIL to a waiting thread (Python's default:
5 ms).

A write transaction holds the database's write serialization (the audit chain head's row lock on
PostgreSQL, the write lock on SQLite) across several database round trips; after each one its thread needs
the GIL back, and with the default interval it can wait up to 5 ms per round trip behind the threads busy
with other requests (routing, validation, JSON), all of which then queue behind the lock. Measured with
``benchmarks/edc/load.py`` at 50 clients (issue 6): PostgreSQL 72 -> 114 audited writes/s, save p99
993 -> 483 ms; SQLite 212 -> 237 writes/s; server CPU per save+read lower on both (benchmarks/RESULTS.md)."""


_GC_YOUNG_THRESHOLD = 20_000
"""Net allocations of container objects between two collections of the youngest generation (Python's
default: 700)."""


def _tune_interpreter() -> None:
    """The GIL hand-over interval, then the cyclic garbage collector, once the application is built.

    Notes
    -----
    The application's modules, routes, schemas and mappings (some 150,000 objects) live as long as the
    process; a full collection walked them all, 80 ms on an idle core and 200 ms and more under load, and
    every request queued behind it waited that long (measured at 50 clients, issue 6: the save p99's tail).
    ``gc.freeze`` moves them out of the collector's sight; what the requests allocate after that is
    collected as before. A request's garbage is freed by reference counting; the young-generation
    threshold only spaces out the collections that find nothing.
    """
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_SECONDS)
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def worker_application() -> FastAPI:
    """Application factory of each ``serve --workers N`` process (N > 1): the application from the
    environment's settings, then the interpreter tuned as in a single-process server."""
    from oligotrial.api.app import create_app_from_environment

    application = create_app_from_environment()
    _tune_interpreter()
    return application


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
        _tune_interpreter()
        uvicorn.run(
            application, host=host, port=port, log_level=log_level, access_log=False, loop=_LOOP, http=_HTTP
        )
    else:
        os.environ["OLIGOTRIAL_DATABASE_URL"] = settings.database_url
        uvicorn.run(
            "oligotrial.cli.server:worker_application",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            loop=_LOOP,
            http=_HTTP,
            # uvicorn kills a worker that does not answer its health check within 5 s by default; on a busy
            # machine importing the application takes longer, and the workers were restarted forever.
            timeout_worker_healthcheck=_WORKER_HEALTHCHECK_SECONDS,
        )
