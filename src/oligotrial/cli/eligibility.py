"""``oligotrial eligibility check``: a candidate's screening record against the protocol."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    print_json,
    read_json_file,
    stdout,
)
from oligotrial.protocol import load_protocol
from oligotrial.rules.eligibility import EligibilityResult, evaluate_eligibility, parse_candidate

app = typer.Typer(help="Screening: evaluate eligibility criterion by criterion.", no_args_is_help=True)

_STYLE = {
    "met": "green",
    "not met": "red",
    "missing": "yellow",
    "eligible": "green",
    "ineligible": "red",
    "incomplete": "yellow",
}


@app.command("check")
@handle_errors
def check(
    candidate_file: Path = typer.Argument(..., help="Candidate record (JSON).", dir_okay=False),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Evaluate every criterion: met / not met / missing with the deciding value, then the verdict."""
    protocol = load_protocol(protocol_file)
    candidate = parse_candidate(read_json_file(candidate_file, "candidate"), protocol)
    result = evaluate_eligibility(candidate, protocol)
    if json_output:
        print_json({"verdict": result.verdict, "criteria": [asdict(c) for c in result.criteria]})
    else:
        render_result(result)


def render_result(result: EligibilityResult) -> None:
    table = Table(title="Eligibility")
    for column in ("id", "criterion", "status", "reason"):
        table.add_column(column)
    for c in result.criteria:
        table.add_row(c.id, c.text, f"[{_STYLE[c.status]}]{c.status}[/]", c.reason)
    stdout.print(table)
    stdout.print(f"Verdict: [bold {_STYLE[result.verdict]}]{result.verdict}[/]")
