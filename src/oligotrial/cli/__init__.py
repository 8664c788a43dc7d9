"""The ``oligotrial`` command line. Each command or command group lives in its own module of this package,
listed in :data:`COMMANDS` and imported only when it is run or its help is shown.

Importing every command module took about five seconds on this project's 2-core machine (scipy, matplotlib,
the statistics, the reports, the web application), before any command did its work: every ``oligotrial``
call and every process of ``oligotrial serve --workers N`` paid for all of them. Now ``oligotrial users
list`` imports the user administration's modules and nothing of the analyses, and ``oligotrial --help``
lists the commands' summaries from :data:`COMMANDS` without importing any of them.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from oligotrial import __version__


class Command(NamedTuple):
    """Where a command is defined: a module of this package and its Typer command group (``app``) or command
    function there; and its summary, the first paragraph of its help, for ``oligotrial --help``."""

    module: str
    attribute: str
    summary: str


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "demo",
        "demo",
        "Show the rule engines, run a synthetic trial through the EDC, SDTM, ADaM, the report and a "
        "simulation, then serve the web app.",
    ),
    "protocol": Command("protocol", "app", "Show or validate a protocol file."),
    "eligibility": Command("eligibility", "app", "Screening: evaluate eligibility criterion by criterion."),
    "rt": Command("rt", "app", "Radiotherapy: BED/EQD2 and the protocol's plan check."),
    "schedule": Command(
        "schedule",
        "schedule",
        "Print the calendar of planned events with target dates and windows; with --actual, each event's "
        "status.",
    ),
    "recist": Command("recist", "app", "RECIST 1.1 and iRECIST responses."),
    "stats": Command("stats", "app", "Survival and binary-endpoint statistics."),
    "design": Command("design", "app", "Trial design calculators."),
    "adam": Command(
        "adam",
        "adam",
        "Derive the ADaM datasets (with define.xml for XPT); on any error nothing is written to --out.",
    ),
    "report": Command(
        "report",
        "report",
        "Write the analysis report: CONSORT, baseline, PFS/OS, responses, subgroups, safety, radiotherapy.",
    ),
    "init": Command(
        "server",
        "init",
        "Create the EDC database or upgrade it, non-interactively; refuse a database of another protocol.",
    ),
    "serve": Command("server", "serve", "Serve the HTTP API (``/api/v1``, docs at ``/docs``) with uvicorn."),
    "users": Command("users", "app", "Manage user accounts."),
    "sites": Command("sites", "app", "Manage sites (centres) and their time zones."),
    "backup": Command("backup", "backup", "Write a consistent backup of the running database."),
    "restore": Command(
        "backup",
        "restore",
        "Restore a backup into an empty database; refuses a backup whose audit chain does not verify.",
    ),
    "audit": Command("audit", "app", "Audit trail."),
    "ctcae": Command("ctcae", "app", "CTCAE terminology (adverse event terms and grades)."),
    "randomization": Command("randomization", "app", "Concealed randomization lists (statistician)."),
    "export": Command("export", "app", "Export the captured data in data standards."),
    "import": Command("import_", "app", "Import data from other systems."),
    "simulate": Command(
        "simulate",
        "simulate",
        "Simulate the design: power or type I error, events, duration, stopping, with Monte Carlo errors.",
    ),
    "synth": Command(
        "simulate",
        "synth",
        "Generate complete synthetic subject histories and write them as SDTM (DM, DS, EX, PR, CM, TU, TR, "
        "RS, AE, SV, SUPPDM) that ``oligotrial adam`` reads, or load them into the EDC at --database through "
        "the services a site uses (an empty database is initialized first, as ``oligotrial init`` does).",
    ),
}
"""Every command by name, in the order of ``oligotrial --help``."""


class _CommandsOnDemand(TyperGroup):
    """The root command: each of :data:`COMMANDS` built from its module when it is first asked for, except
    while its help is written, which lists the commands' summaries without importing them."""

    _listing = False

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)  # loaded or not, in the table's order

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            if self._listing:
                return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name].summary)
            command = self.commands[cmd_name] = load_command(cmd_name)
        return command


def load_command(name: str) -> Any:
    """The click command of :data:`COMMANDS`' ``name``, its module imported."""
    module, attribute, _summary = COMMANDS[name]
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


__all__ = ["COMMANDS", "Command", "app", "load_command", "main"]
