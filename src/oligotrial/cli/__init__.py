"""The ``oligotrial`` command line. Each command group lives in its own module of this package and is
registered here."""

from __future__ import annotations

import typer

from oligotrial import __version__
from oligotrial.cli import (
    adam,
    audit,
    backup,
    ctcae,
    demo,
    design,
    eligibility,
    export,
    import_,
    protocol,
    randomization,
    recist,
    report,
    rt,
    schedule,
    server,
    simulate,
    sites,
    stats,
    users,
)

app = typer.Typer(
    name="oligotrial",
    help="Run the oligometastatic esophageal cancer trial: protocol, rules, analysis, design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


app.command("demo")(demo.demo)
app.add_typer(protocol.app, name="protocol")
app.add_typer(eligibility.app, name="eligibility")
app.add_typer(rt.app, name="rt")
app.command("schedule")(schedule.schedule)
app.add_typer(recist.app, name="recist")
app.add_typer(stats.app, name="stats")
app.add_typer(design.app, name="design")
app.command("adam")(adam.adam)
app.command("report")(report.report)
app.command("init")(server.init)
app.command("serve")(server.serve)
app.add_typer(users.app, name="users")
app.add_typer(sites.app, name="sites")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.add_typer(audit.app, name="audit")
app.add_typer(ctcae.app, name="ctcae")
app.add_typer(randomization.app, name="randomization")
app.add_typer(export.app, name="export")
app.add_typer(import_.app, name="import")
app.command("simulate")(simulate.simulate)
app.command("synth")(simulate.synth)


def main() -> None:
    """Entry point of the ``oligotrial`` script."""
    app()


__all__ = ["app", "main"]
