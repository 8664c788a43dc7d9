"""``oligotrial demo``: the guided tour that ``make demo`` runs.

It shows the protocol and worked examples of the rule engines (eligibility, the radiotherapy plan check, the
protocol calendar), each computed live from the shipped protocol; enters a synthetic multicenter trial into an
SQLite EDC through the same services a site uses; exports SDTM, derives ADaM (with define.xml), writes the
analysis report, runs a small simulation of the design, and serves the web app with a login per role.
Everything it writes goes under ``demo-output/``, which a new run resets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.rule import Rule
from rich.table import Table

from oligotrial import __version__
from oligotrial.cli._common import stdout
from oligotrial.cli.eligibility import render_result
from oligotrial.cli.protocol import render_summary
from oligotrial.cli.rt import render_plan_check
from oligotrial.protocol import load_protocol
from oligotrial.rules.eligibility import evaluate_eligibility, parse_candidate
from oligotrial.rules.radiotherapy import (
    LQ_CAVEAT,
    check_radiotherapy_plan,
    compute_bed,
    compute_eqd2,
    parse_radiotherapy_plan,
)
from oligotrial.rules.schedule import derive_calendar

#: The demo trial's scenario: about a quarter of the enrolled progress during induction (150 enrolled, about
#: 110 randomized), control median PFS 6 months, hazard ratio 0.7 with radiotherapy.
DEMO_SCENARIO = """\
name: demo trial
sample_size: {randomized: 110}
induction: {progression_probability: 0.25}
transitions:
  progression: {control: {median: 6}, hazard_ratio: 0.7}
analysis: {events: 90}
"""

#: The password of every demo account (a demo has no secrets; never use it for a real trial).
DEMO_PASSWORD = "oligotrial-demo-2026"  # noqa: S105 - the documented demo password

CANDIDATE: dict[str, Any] = {
    "subject_id": "DEMO-01-001",
    "screening_date": "2026-03-02",
    "birth_date": "1961-07-14",
    "diagnosis": "esophageal cancer",
    "histology": "squamous cell carcinoma",
    "disease_setting": "metastatic",
    "metastatic_lesions": [
        {"organ": "liver", "lesion_id": "L1"},
        {"organ": "liver", "lesion_id": "L2"},
        {"organ": "lung", "lesion_id": "L3"},
        {"organ": "distant lymph node", "lesion_id": "N1"},
        {"organ": "distant lymph node", "lesion_id": "N2"},
        {"organ": "bone", "lesion_id": "B1"},
    ],
    "measurable_disease": True,
    "ecog": 1,
    "labs": {
        "anc": 2.4,
        "platelets": 210,
        "haemoglobin": 112,
        "creatinine_clearance": 71,
        "bilirubin": {"value": 14, "uln": 21},
        "ast": {"value": 35, "uln": 40},
        "alt": {"value": 41, "uln": 40},
    },
    "prior_systemic_therapy": False,
    "consent_date": "2026-02-26",
    "first_procedure_date": "2026-03-02",
}

PLAN: dict[str, Any] = {
    "chemo_immunotherapy_end": "2026-05-04",
    "maintenance_restart": "2026-07-27",
    "courses": [
        {
            "lesion_id": "P",
            "lesion_type": "primary",
            "organ": "esophagus",
            "technique": "conventional",
            "dose_per_fraction_gy": 2,
            "fractions": 20,
            "start_date": "2026-06-15",
            "end_date": "2026-07-10",
        },
        {
            "lesion_id": "L1",
            "lesion_type": "metastasis",
            "organ": "liver",
            "technique": "SBRT",
            "dose_per_fraction_gy": 8,
            "fractions": 3,
            "start_date": "2026-06-29",
            "end_date": "2026-07-03",
        },
        {
            "lesion_id": "N1",
            "lesion_type": "metastasis",
            "organ": "distant lymph node",
            "technique": "conventional",
            "dose_per_fraction_gy": 3,
            "fractions": 10,
            "start_date": "2026-07-06",
            "end_date": "2026-07-17",
        },
    ],
}


def demo(
    output: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the demo's files (reset)."),
    subjects: int = typer.Option(150, "--subjects", help="Synthetic subjects to enroll."),
    port: int = typer.Option(8000, "--port", help="Port of the web app served at the end."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the web app at the end."),
) -> None:
    """Show the rule engines, run a synthetic trial through the EDC, SDTM, ADaM, the report and a simulation,
    then serve the web app."""
    show_rules()
    database = run_pipeline(output, subjects)
    if serve:
        stdout.print(Rule(f"Web app: http://127.0.0.1:{port}"))
        stdout.print("Log in with the accounts listed above (one per role); Ctrl-C stops the server.")
        _oligotrial("serve", "--database", database, "--port", str(port), "--log-level", "warning")


def run_pipeline(output: Path, subjects: int) -> str:
    """synth (through the EDC services) -> export sdtm -> adam -> report -> simulate, each as the command a
    user would type (one subject screened and not enrolled for every five enrolled); returns the database
    URL."""
    screen_failures = subjects // 5
    if output.exists():
        stdout.print(f"Resetting the demo: removing {output}/ from an earlier run.")
        shutil.rmtree(output)
    output.mkdir(parents=True)
    database = f"sqlite:///{output.resolve() / 'trial.db'}"
    password_file = output / "demo-password.txt"
    password_file.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    scenario = output / "scenario.yaml"
    scenario.write_text(DEMO_SCENARIO, encoding="utf-8")
    sdtm, adam, report = output / "sdtm", output / "adam", output / "report"
    steps = [
        (
            f"Synthetic trial through the EDC: {subjects} enrolled, {screen_failures} screen failures, 10 sites",
            [
                "synth",
                "--subjects",
                str(subjects),
                "--screen-failures",
                str(screen_failures),
                "--sites",
                "10",
                "--database",
                database,
                "--password-file",
                str(password_file),
                "--scenario",
                str(scenario),
                "--monitoring",
            ],
        ),
        ("SDTM exported from the EDC", ["export", "sdtm", "--database", database, "--out", str(sdtm)]),
        ("ADaM (CSV and XPT with define.xml)", ["adam", str(sdtm), "--out", str(adam), "--format", "both"]),
        (
            "Analysis report (HTML and PDF)",
            ["report", str(adam), "--out", str(report), "--format", "both", "--sdtm", str(sdtm)],
        ),
        ("Design simulation: 2,000 trials at HR 0.7", ["simulate", "--hr", "0.7", "--replicates", "2000"]),
    ]
    for title, arguments in steps:
        stdout.print(Rule(title))
        stdout.print(f"$ oligotrial {' '.join(arguments)}", style="dim")
        _oligotrial(*arguments)
    stdout.print(Rule("Done"))
    stdout.print(f"database: {database}")
    stdout.print(f"every demo account above uses the password {DEMO_PASSWORD!r} (also in {password_file})")
    stdout.print(f"SDTM: {sdtm}/  ADaM: {adam}/  report: {report}/report.html")
    return database


def _oligotrial(*arguments: str) -> None:
    """Run one oligotrial command as a user would (development settings: the demo has no secrets)."""
    environment = {**os.environ, "OLIGOTRIAL_ENV": "development"}
    result = subprocess.run(  # noqa: S603 - our own command line, arguments built above
        [sys.executable, "-m", "oligotrial.cli", *arguments], check=False, env=environment
    )
    if result.returncode != 0:
        stdout.print(f"[bold red]step failed with exit code {result.returncode}[/]")
        raise typer.Exit(1)


def show_rules() -> None:
    """The protocol and worked examples of the rule engines."""
    protocol = load_protocol()
    stdout.print(Rule(f"oligotrial {__version__}: the protocol as data"))
    render_summary(protocol)

    stdout.print(Rule("Eligibility: a candidate with 6 metastatic lesions in 4 organs"))
    render_result(evaluate_eligibility(parse_candidate(CANDIDATE, protocol), protocol))
    two_organs = {**CANDIDATE, "metastatic_lesions": CANDIDATE["metastatic_lesions"][:3]}
    stdout.print(Rule("... and the same candidate with 3 lesions in 2 organs"))
    render_result(evaluate_eligibility(parse_candidate(two_organs, protocol), protocol))

    stdout.print(Rule("Radiobiology: BED and EQD2 (alpha/beta 10 Gy)"))
    table = Table()
    for column in ("schedule", "total Gy", "BED10 Gy", "EQD2 Gy"):
        table.add_column(column, justify="right")
    for d, n in ((8, 5), (8, 4), (8, 3), (10, 3), (7, 5), (2, 20), (3, 10)):
        table.add_row(
            f"{d} Gy x {n}",
            f"{d * n:.1f}",
            f"{compute_bed(float(d), float(n), 10.0):.1f}",
            f"{compute_eqd2(float(d), float(n), 10.0):.1f}",
        )
    stdout.print(table)
    stdout.print(f"[dim]{LQ_CAVEAT}[/]")

    stdout.print(Rule("Radiotherapy plan check (experimental arm)"))
    render_plan_check(check_radiotherapy_plan(parse_radiotherapy_plan(PLAN, protocol), protocol))

    stdout.print(Rule("Protocol calendar: first dose 2026-03-02, randomized to radiotherapy 2026-05-25"))
    events = derive_calendar(
        protocol,
        date(2026, 3, 2),
        randomized=date(2026, 5, 25),
        arm="experimental",
        rt_end=date(2026, 7, 17),
        maintenance_start=date(2026, 7, 27),
    )
    table = Table()
    for column in ("id", "event", "target", "window"):
        table.add_column(column)
    for event in events[:16]:
        table.add_row(event.id, event.label, str(event.target or "-"), f"{event.earliest} .. {event.latest}")
    stdout.print(table)
    stdout.print(f"... {len(events) - 16} more events up to {events[-1].target} (oligotrial schedule --help)")
