"""``oligotrial design ...``: events, sample size and group-sequential boundaries."""

from __future__ import annotations

import typer

app = typer.Typer(help="Trial design calculators.", no_args_is_help=True)
