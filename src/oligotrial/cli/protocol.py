"""``oligotrial protocol show|validate``: the trial as data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.protocol import Protocol, load_protocol

app = typer.Typer(help="Show or validate a protocol file.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show(
    file: Path | None = typer.Argument(
        None, help="Protocol file; default: the shipped protocol.", dir_okay=False
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Print the protocol: a summary, or every setting with --json."""
    protocol = load_protocol(file)
    if json_output:
        print_json(protocol.model_dump(mode="json"))
        return
    render_summary(protocol)


@app.command("validate")
@handle_errors
def validate(
    file: Path = typer.Argument(..., help="Protocol file to check.", dir_okay=False),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check a protocol file; exit 2 with every problem located by key path and line."""
    protocol = load_protocol(file)
    if json_output:
        print_json({"valid": True, "id": protocol.protocol.id, "version": protocol.protocol.version})
    else:
        stdout.print(f"{file}: valid protocol {protocol.protocol.id} version {protocol.protocol.version}")


def render_summary(protocol: Protocol) -> None:
    """A one-screen summary of the protocol for people."""
    info = protocol.protocol
    stdout.print(f"[bold]{info.id}[/] version {info.version}: {info.title}")
    stdout.print(f"Phase {info.phase}; {info.design}; planned enrollment {info.planned_enrollment}.")
    induction = protocol.induction
    stdout.print(
        f"Induction: {induction.cycles} cycles of {induction.cycle_length_days} days "
        f"(day-1 window +/-{induction.day1_window_days}), camrelizumab {induction.immunotherapy.dose_mg:g} mg "
        f"with one of: {'; '.join(r.name for r in induction.regimens)}."
    )
    ratio = ":".join(str(protocol.randomization.ratio[a.id]) for a in protocol.arms)
    strata = ", ".join(s.id for s in protocol.randomization.strata)
    stdout.print(
        f"Randomization {ratio} ({' vs '.join(a.id for a in protocol.arms)}) by "
        f"{protocol.randomization.method.replace('_', ' ')}, strata: {strata}."
    )
    rt = protocol.radiotherapy
    stdout.print(
        f"Radiotherapy ({rt.arm} arm): start within {rt.start_within_days_after_chemo_end} days of the end of "
        f"chemo-immunotherapy; SBRT {rt.sbrt.dose_per_fraction_gy:g} Gy x {rt.sbrt.fractions.min}-"
        f"{rt.sbrt.fractions.max} (other schedules BED10 > {rt.sbrt.other_schedule_bed10_recommended_above_gy:g} "
        f"Gy); conventional > {rt.conventional.total_dose_above_gy:g} Gy; primary >= "
        f"{rt.primary.total_dose_at_least_gy:g} Gy; maintenance restart within "
        f"{rt.maintenance_restart_within_days_after_rt_end} days."
    )
    m = protocol.maintenance
    stdout.print(
        f"Maintenance: {m.agent} {m.dose_mg:g} mg every {m.interval_days} days up to {m.max_duration_months} months."
    )
    table = Table(title="Eligibility criteria", show_lines=False)
    for column in ("id", "kind", "criterion"):
        table.add_column(column)
    for criterion in protocol.population.criteria:
        table.add_row(criterion.id, criterion.kind, criterion.text)
    stdout.print(table)
    endpoints = Table(title="Endpoints")
    for column in ("PARAMCD", "endpoint", "origin", "population"):
        endpoints.add_column(column)
    for endpoint in protocol.endpoints:
        endpoints.add_row(endpoint.paramcd, endpoint.param, endpoint.origin, endpoint.population)
    stdout.print(endpoints)
