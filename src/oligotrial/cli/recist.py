"""``oligotrial recist ...``: RECIST 1.1 and iRECIST responses from SDTM-shaped TU/TR/RS/DM files."""

from __future__ import annotations

import typer

app = typer.Typer(help="RECIST 1.1 and iRECIST responses.", no_args_is_help=True)
