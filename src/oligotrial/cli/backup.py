"""``oligotrial backup FILE`` / ``oligotrial restore FILE``: consistent online backup; restore verifies the
audit chain before committing."""

from __future__ import annotations

from pathlib import Path

import typer

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, progress_bar, progress_bars, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.services import backup_database, open_edc, restore_database
from oligotrial.settings import load_settings

__all__ = ["backup", "restore"]


@handle_errors
def backup(
    file: Path = typer.Argument(
        ..., help="Backup file to write (gzip JSON Lines, one table row a line).", dir_okay=False
    ),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a consistent backup of the running database."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        with progress_bar("backup: rows", json_output) as progress:
            result = backup_database(edc, file, progress)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(result)
    else:
        stdout.print(f"Backup written to {result['file']}: {result['audit_entries']} audit entries.")


@handle_errors
def restore(
    file: Path = typer.Argument(
        ..., help="Backup file written by `oligotrial backup`.", exists=False, dir_okay=False
    ),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Restore a backup into an empty database; refuses a backup whose audit chain does not verify."""
    steps = {"rows": "restore: rows", "chain": "restore: audit entries verified"}
    with progress_bars(json_output, *steps.values()) as update:
        result = restore_database(
            load_settings(database_url=database),
            file,
            source=cli_source(),
            progress=lambda step, done, total: update(steps[step], done, total),
        )
    if json_output:
        print_json(result)
    else:
        stdout.print(
            f"Restored {result['file']} into {result['database']}: {result['audit_entries_verified']} audit "
            f"entries verified, head {result['head_hash']}."
        )
