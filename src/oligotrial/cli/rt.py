"""``oligotrial rt bed|check``: radiobiology and the radiotherapy plan check."""

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
from oligotrial.rules.radiotherapy import (
    LQ_CAVEAT,
    PlanCheck,
    check_dose_inputs,
    check_radiotherapy_plan,
    compute_bed,
    compute_eqd2,
    parse_radiotherapy_plan,
)

app = typer.Typer(help="Radiotherapy: BED/EQD2 and the protocol's plan check.", no_args_is_help=True)

_STYLE = {"compliant": "green", "advisory": "yellow", "deviation": "red"}


@app.command("bed")
@handle_errors
def bed(
    dose_per_fraction: float = typer.Option(..., "--dose-per-fraction", help="Dose per fraction in Gy."),
    fractions: int = typer.Option(..., "--fractions", help="Number of fractions."),
    alpha_beta: float = typer.Option(10.0, "--alpha-beta", help="Alpha/beta ratio in Gy."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Biologically effective dose and EQD2 of a schedule."""
    check_dose_inputs(dose_per_fraction, fractions, alpha_beta)
    bed_gy = compute_bed(dose_per_fraction, float(fractions), alpha_beta)
    eqd2_gy = compute_eqd2(dose_per_fraction, float(fractions), alpha_beta)
    if json_output:
        print_json(
            {
                "dose_per_fraction": dose_per_fraction,
                "fractions": fractions,
                "total_dose": dose_per_fraction * fractions,
                "alpha_beta": alpha_beta,
                "bed": round(bed_gy, 10),
                "eqd2": round(eqd2_gy, 10),
                "note": LQ_CAVEAT,
            }
        )
        return
    stdout.print(
        f"{dose_per_fraction:g} Gy x {fractions} = {dose_per_fraction * fractions:g} Gy; "
        f"alpha/beta {alpha_beta:g} Gy: BED {bed_gy:.1f} Gy, EQD2 {eqd2_gy:.1f} Gy"
    )
    stdout.print(f"[dim]{LQ_CAVEAT}[/]")


@app.command("check")
@handle_errors
def check(
    plan_file: Path = typer.Argument(..., help="Radiotherapy plan (JSON).", dir_okay=False),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Check a radiotherapy plan: each lesion compliant / deviation / advisory, and the 8-week windows."""
    protocol = load_protocol(protocol_file)
    plan = parse_radiotherapy_plan(read_json_file(plan_file, "radiotherapy plan"), protocol)
    result = check_radiotherapy_plan(plan, protocol)
    if json_output:
        print_json(asdict(result))
    else:
        render_plan_check(result)


def render_plan_check(result: PlanCheck) -> None:
    table = Table(title="Radiotherapy plan check")
    for column in ("lesion", "schedule", "BED10", "EQD2", "verdict", "reasons"):
        table.add_column(column)
    for lesion in result.lesions:
        table.add_row(
            f"{lesion.lesion_id} ({lesion.lesion_type})",
            f"{lesion.technique} {lesion.dose_per_fraction_gy:g} Gy x {lesion.fractions}",
            f"{lesion.bed10_gy:.1f}",
            f"{lesion.eqd2_10_gy:.1f}",
            f"[{_STYLE[lesion.verdict]}]{lesion.verdict}[/]",
            "\n".join([f.message for f in lesion.findings] + list(lesion.notes)),
        )
    stdout.print(table)
    for finding in result.windows:
        stdout.print(f"[{_STYLE[finding.verdict]}]{finding.verdict}[/]: {finding.message}")
    stdout.print(f"Overall: [bold {_STYLE[result.verdict]}]{result.verdict}[/]")
    for note in result.notes:
        stdout.print(f"[dim]{note}[/]")
