"""The ``oligotrial`` command line. Each command or command group lives in its own module of this package,
listed in :data:`COMMANDS` and imported only when it is run or its help is shown.

Importing every command module took about five seconds on this project's 2-core machine (scipy, matplotlib,
the statistics, the reports, the web application), before any command did its work: every ``oligotrial``
call and every process of ``oligotrial serve --workers N`` paid for all of them. Now ``oligotrial users
list`` imports the user administration's modules and nothing of the analyses; ``oligotrial --help`` still
imports them all, to show each command's summary.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from oligotrial import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "demo"),
    "protocol": ("protocol", "app"),
    "eligibility": ("eligibility", "app"),
    "rt": ("rt", "app"),
    "schedule": ("schedule", "schedule"),
    "recist": ("recist", "app"),
    "stats": ("stats", "app"),
    "design": ("design", "app"),
    "adam": ("adam", "adam"),
    "report": ("report", "report"),
    "init": ("server", "init"),
    "serve": ("server", "serve"),
    "users": ("users", "app"),
    "sites": ("sites", "app"),
    "backup": ("backup", "backup"),
    "restore": ("backup", "restore"),
    "audit": ("audit", "app"),
    "ctcae": ("ctcae", "app"),
    "randomization": ("randomization", "app"),
    "export": ("export", "app"),
    "import": ("import_", "app"),
    "simulate": ("simulate", "simulate"),
    "synth": ("simulate", "synth"),
}
"""Each command's name: the module of this package that defines it, and its Typer command group (``app``) or
command function there. The order is that of ``oligotrial --help``."""


class _CommandsOnDemand(TyperGroup):
    """The root command: each of :data:`COMMANDS` built from its module when it is first asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = self.commands[cmd_name] = load_command(cmd_name)
        return command


def load_command(name: str) -> Any:
    """The click command of :data:`COMMANDS`' ``name``, its module imported."""
    module, attribute = COMMANDS[name]
    defined = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    if isinstance(defined, typer.Typer):
        group = typer.main.get_group(defined)  # a group even when it has one command, as add_typer makes it
        group.name = name
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(defined)
    return typer.main.get_command(single)


app = typer.Typer(
    name="oligotrial",
    help="Run the oligometastatic esophageal cancer trial: protocol, rules, analysis, design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_CommandsOnDemand,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    """Entry point of the ``oligotrial`` script."""
    app()


__all__ = ["COMMANDS", "app", "load_command", "main"]
