"""``oligotrial stats ...``: survival and binary-endpoint statistics from CSV files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Survival and binary-endpoint statistics.", no_args_is_help=True)
