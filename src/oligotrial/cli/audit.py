"""``oligotrial audit verify``: recompute the audit hash chain and name every tampered row."""

from __future__ import annotations

import typer

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stderr, stdout
from oligotrial.cli.server import DATABASE_OPTION
from oligotrial.services import open_edc
from oligotrial.services.audit_trail import verify_audit
from oligotrial.settings import load_settings

__all__ = ["app", "verify"]

app = typer.Typer(help="Audit trail.", no_args_is_help=True)


@app.command("verify")
@handle_errors
def verify(database: str | None = DATABASE_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Verify the audit chain; exit 1 naming each row changed, removed or inserted behind the application."""
    edc = open_edc(load_settings(database_url=database), pool_size=1)
    try:
        report = verify_audit(edc)
    finally:
        edc.engine.dispose()
    if json_output:
        print_json(report.to_dict())
    elif report.is_intact:
        stdout.print(f"Audit chain intact: {report.entries} entries, head {report.head_hash}.")
    for problem in report.problems:
        if not json_output:
            stderr.print(problem.render(), markup=False)
    if not report.is_intact:
        if not json_output:
            stderr.print(
                f"[bold red]Audit chain broken:[/] {len(report.problems)} problem(s) in {report.entries} entries."
            )
        raise typer.Exit(1)
