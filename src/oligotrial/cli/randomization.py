"""``oligotrial randomization generate|upload|lists``: the statistician's concealed list from the command line.

The server operator runs these on the statistician's behalf: ``--statistician USER`` names an active
study-wide statistician, who is recorded in the audit trail. Output never shows the unused slots.
"""

from __future__ import annotations

from pathlib import Path

import typer

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.errors import InputError
from oligotrial.services import open_edc
from oligotrial.services import randomization as services
from oligotrial.settings import load_settings

__all__ = ["app", "generate", "upload"]

app = typer.Typer(help="Concealed randomization lists (statistician).", no_args_is_help=True)

STATISTICIAN = typer.Option(..., "--statistician", help="User name of the study-wide statistician.")


def _print(view: services.RandomizationListView, json_output: bool) -> None:
    summary = {
        "id": view.id,
        "kind": view.kind,
        "entries": view.entries,
        "content_sha256": view.content_sha256,
        "created_by": view.created_by,
    }
    if json_output:
        print_json(summary)
    else:
        stdout.print(
            f"List {view.id} ({view.kind}): {view.entries} slots, sha256 {view.content_sha256}, "
            f"by {view.created_by}."
        )


@app.command("generate")
@handle_errors
def generate(
    statistician: str = STATISTICIAN,
    entries_per_stratum: int = typer.Option(50, "--per-stratum", min=1, max=10_000),
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: drawn from the OS and stored)."),
    site: list[str] = typer.Option([], "--site", help="Site code; repeat; default every active site."),
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Generate or extend the permuted-block list (or the minimization stream), as the protocol says."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        actor = services.statistician_actor(edc, statistician, cli_source())
        view = services.generate_randomization_list(
            edc, actor, entries_per_stratum=entries_per_stratum, seed=seed, sites=site or None
        )
    finally:
        edc.engine.dispose()
    _print(view, json_output)


@app.command("upload")
@handle_errors
def upload(
    file: Path = typer.Argument(
        ..., help="CSV: position, arm, one column per stratum factor, [block].", dir_okay=False
    ),
    statistician: str = STATISTICIAN,
    database: str | None = DATABASE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Upload a list prepared elsewhere (validated: arms, strata, positions)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.single("FILE-001", str(file), f"cannot read the list: {exc}") from None
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        actor = services.statistician_actor(edc, statistician, cli_source())
        view = services.upload_randomization_list(edc, actor, text, file_name=file.name)
    finally:
        edc.engine.dispose()
    _print(view, json_output)
