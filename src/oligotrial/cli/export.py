"""``oligotrial export sdtm --out DIR [--format csv|xpt|both] [--database URL]``: the captured data as SDTM."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from oligotrial.cli._common import JSON_OPTION, PROTOCOL_OPTION, handle_errors, print_json, stderr, stdout
from oligotrial.cli.server import DATABASE_OPTION, cli_source
from oligotrial.errors import InputError
from oligotrial.exports.datasets import DatasetFormat
from oligotrial.exports.sdtm import export_sdtm
from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Role, open_edc
from oligotrial.settings import load_settings

__all__ = ["app", "sdtm"]

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
    """Write DM, DS, EX, PR, CM, AE, SUPPAE, TU, TR, RS, SV, DV, TS, TA, TE, TV; nothing is written on error."""
    formats = {"csv": ["csv"], "xpt": ["xpt"], "both": ["csv", "xpt"]}.get(output_format)
    if formats is None:
        raise InputError.single("CLI-002", "--format", "expected csv, xpt or both", value=output_format)
    protocol = load_protocol(protocol_file)
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    # The operator exports as a study-wide statistician would (read and export, no data entry); audited.
    actor = Actor(
        None, "system", "System (command line)", frozenset({(Role.STATISTICIAN, None)}), cli_source()
    )
    try:
        result = export_sdtm(edc, actor, out, cast(list[DatasetFormat], formats), protocol=protocol)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(result)
        return
    counts = ", ".join(f"{name} {n}" for name, n in result["records"].items())
    stdout.print(f"SDTM written to {out}: {counts}.")
    for problem in result["problems"]:
        stderr.print(
            f"not exported: {problem['code']} {problem['field']}: {problem['message']}", markup=False
        )
