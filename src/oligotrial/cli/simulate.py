"""``oligotrial simulate`` (design Monte Carlo) and ``oligotrial synth`` (patient-level synthetic SDTM)."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    parse_dataset_formats,
    parse_date_option,
    print_json,
    stderr,
    stdout,
)
from oligotrial.errors import InputError
from oligotrial.protocol import Protocol, load_protocol
from oligotrial.simulation import (
    Chunk,
    Scenario,
    SubjectRecords,
    compile_design,
    derive_sdtm_tables,
    generate_subjects,
    load_scenario,
    plan_chunks,
    run_simulation,
    run_simulation_distributed,
)
from oligotrial.stats import compute_events, compute_power

__all__ = ["simulate", "synth"]


def _scenario(
    scenario_file: Path | None,
    overrides: dict[str, Any],
) -> Scenario:
    """The scenario file (or the defaults) with the command-line settings on top, validated as a whole."""
    data: dict[str, Any] = (
        load_scenario(scenario_file).model_dump(exclude_unset=True)
        if scenario_file is not None
        else {
            "name": "command line",
            "sample_size": {"randomized": 120},
            "transitions": {"progression": {"control": {"median": 6.0}}},
            "analysis": {},
        }
    )
    for path, value in overrides.items():
        if value is None:
            continue
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    analysis = data.setdefault("analysis", {})
    if "events" not in analysis and "calendar_months" not in analysis:
        hr = data["transitions"]["progression"].get("hazard_ratio", 1.0)
        if hr == 1.0:
            raise InputError.single(
                "SIM-010", "--events", "give --events (or a scenario file) when the hazard ratio is 1"
            )
        alpha = analysis.get("alpha", 0.05)
        sided = analysis.get("sided", 2)
        analysis["events"] = compute_events(hr, alpha, 0.8, sided=sided).events_rounded
        if scenario_file is None and overrides.get("sample_size") is None:
            data["sample_size"] = {"randomized": max(120, -(-analysis["events"] * 4 // 3))}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputError.from_validation(exc, "SIM-013", "scenario") from None


def _progress(total: int, json_output: bool) -> Progress:
    return Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("replicates"),
        TimeElapsedColumn(),
        console=stderr,
        transient=json_output,
        disable=not stderr.is_terminal and json_output,
    )


@handle_errors
def simulate(
    scenario_file: Path | None = typer.Option(
        None, "--scenario", help="Scenario file (YAML); command-line settings override it.", dir_okay=False
    ),
    hazard_ratio: float | None = typer.Option(
        None, "--hr", help="Progression hazard ratio experimental/control (1 simulates the type I error)."
    ),
    control_median: float | None = typer.Option(None, "--control-median", help="Control median (months)."),
    randomized: int | None = typer.Option(None, "--randomized", help="Patients to randomize."),
    events: int | None = typer.Option(
        None, "--events", help="PFS events of the final analysis (default: Schoenfeld, power 0.8)."
    ),
    alpha: float | None = typer.Option(None, "--alpha", help="Type I error."),
    sided: int | None = typer.Option(None, "--sided", help="1 or 2."),
    accrual_rate: float | None = typer.Option(None, "--accrual-rate", help="Patients per month."),
    information_rates: str | None = typer.Option(
        None, "--information-rates", help="Looks as fractions of the events, e.g. 0.5,1."
    ),
    replicates: int = typer.Option(10_000, "--replicates", help="Simulated trials."),
    workers: int | None = typer.Option(None, "--workers", help="Run on a local Dask cluster of N workers."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Run on the Dask cluster at ADDRESS."),
    seed: int = typer.Option(20260101, "--seed", help="Seed; the same seed gives the same result."),
    chunk_replicates: int = typer.Option(10_000, "--chunk", help="Replicates per task."),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Simulate the design: power or type I error, events, duration, stopping, with Monte Carlo errors."""
    if workers is not None and scheduler is not None:
        raise InputError.single("CLI-003", "--workers", "give --workers or --scheduler, not both")
    rates = None
    if information_rates is not None:
        try:
            rates = [float(x) for x in information_rates.split(",")]
        except ValueError:
            raise InputError.single(
                "CLI-003", "--information-rates", f"expected numbers such as 0.5,1, got {information_rates!r}"
            ) from None
    scenario = _scenario(
        scenario_file,
        {
            "transitions.progression.hazard_ratio": hazard_ratio,
            "transitions.progression.control": None if control_median is None else {"median": control_median},
            "sample_size": None if randomized is None else {"randomized": randomized},
            "analysis.events": events,
            "analysis.alpha": alpha,
            "analysis.sided": sided,
            "accrual.rate": accrual_rate,
            "analysis.information_rates": rates,
        },
    )
    protocol = load_protocol(protocol_file)
    design = compile_design(protocol, scenario)
    chunks = plan_chunks(replicates, chunk_replicates)
    started = time.perf_counter()
    with _progress(replicates, json_output) as progress:
        task = progress.add_task("simulate", total=replicates)

        def advance(chunk: Chunk) -> None:
            progress.advance(task, chunk.replicates)

        if workers is None and scheduler is None:
            result = run_simulation(
                design, replicates, seed, chunk_replicates=chunk_replicates, on_chunk=advance
            )
        else:
            result = run_simulation_distributed(
                design,
                replicates,
                seed,
                workers=workers,
                scheduler=scheduler,
                chunk_replicates=chunk_replicates,
                on_chunk=advance,
            )
    elapsed = time.perf_counter() - started
    summary = result.summary
    analysis = scenario.analysis
    expected = None
    if analysis.events is not None and scenario.transitions.progression.hazard_ratio != 1.0:
        expected = compute_power(
            analysis.events,
            scenario.transitions.progression.hazard_ratio,
            analysis.alpha,
            sided=analysis.sided,
        )
    document = {
        **summary,
        "schoenfeld_power_fixed_design": expected,
        "executor": {
            "kind": "single process" if workers is None and scheduler is None else "dask",
            "workers": workers,
            "scheduler": scheduler,
            "chunks": len(chunks),
        },
        "seconds": elapsed,
        "trials_per_second": replicates / elapsed if elapsed > 0 else None,
        "scenario_settings": scenario.model_dump(mode="json"),
    }
    if json_output:
        print_json(document)
        return
    rejection = summary["rejection"]
    stdout.print(f"scenario {summary['scenario']}: {summary['replicates']} trials, seed {seed}")
    stdout.print(
        f"rejection of H0 ({summary['hypothesis']}): {rejection['estimate']:.4f} "
        f"(MC SE {rejection['mc_se']:.4f})"
        + ("" if expected is None else f"; Schoenfeld fixed-design power {expected:.4f}")
    )
    for look in summary["looks"]:
        stdout.print(
            f"look {look['look']}: stop {look['stop']['estimate']:.4f} "
            f"(efficacy {look['stop_efficacy']['estimate']:.4f}, futility {look['stop_futility']['estimate']:.4f}), "
            f"bound z {look['efficacy_z']:.3f}, time {look['time_months']['estimate']:.1f} months"
        )
    stdout.print(
        f"events {summary['events']['estimate']:.1f}, duration {summary['duration_months']['estimate']:.1f} "
        f"months, randomized {summary['randomized']['estimate']:.1f}, enrolled {summary['enrolled']['estimate']:.1f}"
    )
    stderr.print(f"{replicates / elapsed:,.0f} trials per second ({elapsed:.2f} s)")


@handle_errors
def synth(
    subjects: int = typer.Option(..., "--subjects", help="Subjects to enroll."),
    screen_failures: int = typer.Option(
        0,
        "--screen-failures",
        help="Subjects screened and not enrolled (ECOG or metastatic organs above the protocol's maximum).",
    ),
    sites: int = typer.Option(5, "--sites", help="Number of sites."),
    out: Path | None = typer.Option(None, "--out", help="Folder to write the SDTM datasets into."),
    database: str | None = typer.Option(None, "--database", help="Load through the EDC services (URL)."),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="With --database: one password for every account created (else random).",
        dir_okay=False,
    ),
    scenario_file: Path | None = typer.Option(
        None, "--scenario", help="Scenario file (YAML).", dir_okay=False
    ),
    hazard_ratio: float | None = typer.Option(None, "--hr", help="Progression hazard ratio (default 0.6)."),
    seed: int = typer.Option(20260101, "--seed", help="Seed."),
    start: str | None = typer.Option(None, "--start", help="Calendar date of time 0 (YYYY-MM-DD)."),
    cutoff_months: float | None = typer.Option(None, "--cutoff-months", help="Data cut-off after --start."),
    output_format: str = typer.Option("csv", "--format", help="csv, xpt or both."),
    monitoring: bool = typer.Option(
        False,
        "--monitoring",
        help="With --database: then verify forms and raise, answer and close queries as the monitor and "
        "the sites would.",
    ),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Generate complete synthetic subject histories and write them as SDTM (DM, DS, EX, PR, CM, TU, TR, RS,
    AE, SV, SUPPDM) that ``oligotrial adam`` reads, or load them into the EDC at --database through the
    services a site uses (an empty database is initialized first, as ``oligotrial init`` does)."""
    from oligotrial.exports.datasets import write_datasets

    if (out is None) == (database is None):
        raise InputError.single("CLI-003", "--out", "give exactly one of --out and --database")
    if subjects < 1 or sites < 1:
        raise InputError.single("CLI-003", "--subjects", "expected at least 1 subject and 1 site")
    if screen_failures < 0:
        raise InputError.single("CLI-003", "--screen-failures", "expected 0 or more", value=screen_failures)
    if monitoring and database is None:
        raise InputError.single("CLI-003", "--monitoring", "needs --database (it works through the EDC)")
    formats = parse_dataset_formats(output_format)
    scenario = _scenario(
        scenario_file,
        {
            "transitions.progression.hazard_ratio": hazard_ratio
            if hazard_ratio is not None or scenario_file is not None
            else 0.6,
            "induction.progression_probability": None if scenario_file is not None else 0.1,
            "transitions.death_before_progression": None
            if scenario_file is not None
            else {"control": {"median": 60.0}},
        },
    )
    protocol = load_protocol(protocol_file)
    start_date = parse_date_option(start, "--start") or date(2026, 1, 1)
    records = generate_subjects(
        protocol,
        scenario,
        subjects,
        sites,
        np.random.default_rng(seed),
        start=start_date,
        cutoff_months=cutoff_months,
        screen_failures=screen_failures,
    )
    randomized = sum(1 for r in records if r.truth.get("randomization") is not None)
    failed = sum(1 for r in records if "screening" in r.truth)
    if database is not None:
        password = _read_password(password_file) if password_file is not None else None
        _load_into_database(
            database, records, protocol, sites, seed, randomized, json_output, password, monitoring
        )
        return
    tables = derive_sdtm_tables(records)
    assert out is not None
    written = write_datasets(tables, out, formats)
    document = {
        "subjects": len(records),
        "screen_failures": failed,
        "randomized": randomized,
        "sites": sites,
        "seed": seed,
        "cutoff": records[0].truth["cutoff"] if records else None,
        "out": str(out),
        "files": [p.name for p in written],
        "rows": {name: table.height for name, table in tables.items()},
    }
    if json_output:
        print_json(document)
        return
    stdout.print(
        f"{len(records)} subjects ({failed} screen failures, {randomized} randomized) at {sites} sites"
    )
    stderr.print(f"wrote {', '.join(p.name for p in written)} to {out}")


def _read_password(path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError.single(
            "FILE-001", str(path), f"cannot read the password file: {exc.strerror}"
        ) from None
    if not password:
        raise InputError.single("CLI-004", "--password-file", f"the password file {path} is empty")
    return password


def _load_into_database(
    database: str,
    records: list[SubjectRecords],
    protocol: Protocol,
    sites: int,
    seed: int,
    randomized: int,
    json_output: bool,
    password: str | None = None,
    monitoring: bool = False,
) -> None:
    """``synth --database``: open (or create, when empty) the EDC and replay the subjects through the services,
    with a progress bar on stderr; print the summary with the accounts created (passwords included)."""
    from oligotrial.cli.server import cli_source
    from oligotrial.services.synthetic import load_synthetic_subjects, open_synthetic_database
    from oligotrial.settings import load_settings

    settings = load_settings(database_url=database)
    edc, admin_login = open_synthetic_database(
        settings, protocol, admin_password=password, source=cli_source()
    )
    try:
        with Progress(
            TextColumn("loading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("subjects"),
            TimeElapsedColumn(),
            console=stderr,
            transient=json_output,
            disable=not stderr.is_terminal and json_output,
        ) as progress:
            task = progress.add_task("load", total=len(records))

            def advance(done: int, total: int, usubjid: str) -> None:
                progress.update(task, completed=done)

            summary = load_synthetic_subjects(
                edc,
                records,
                protocol=protocol,
                progress=advance,
                sites=sites,
                password=password,
                source=cli_source(),
                monitoring=monitoring,
            )
    finally:
        edc.engine.dispose()
    logins = ([admin_login] if admin_login is not None else []) + summary.logins
    document = {
        **dataclasses.asdict(summary),
        "logins": [dataclasses.asdict(login) for login in logins],
        "generated": {
            "subjects": len(records),
            "screen_failures": sum(1 for r in records if "screening" in r.truth),
            "randomized": randomized,
            "sites": sites,
            "seed": seed,
        },
        "database": settings.database_url if "@" not in settings.database_url else "(hidden)",
        "database_initialized": admin_login is not None,
    }
    if json_output:
        print_json(document)
    else:
        stdout.print(
            f"{summary.subjects} subjects loaded ({summary.enrolled} enrolled, {summary.screen_failed} screen failures, "
            f"{summary.randomized} randomized"
            f" {summary.arms}) at {len(summary.sites)} sites in {summary.seconds:.1f} s; "
            f"data cut-off on {summary.load_date} (the day of the load)"
        )
        stdout.print("accounts (user name, password, role, site):")
        for login in logins:
            stdout.print(f"  {login.username}  {login.password}  {login.role}  {login.site or 'study-wide'}")
        if summary.queries:
            stdout.print(f"edit-check queries raised: {summary.queries}")
        if summary.monitoring:
            stdout.print("monitoring: " + ", ".join(f"{n} {what}" for what, n in summary.monitoring.items()))
    if summary.refusals:
        stderr.print(f"[bold red]{summary.refused_subjects} subjects had a record refused[/]; the first:")
        for refusal in summary.refusals[:10]:
            problems = "; ".join(f"{p['code']} {p['field']}: {p['message']}" for p in refusal.problems)
            stderr.print(
                f"  {refusal.usubjid} ({refusal.subject}) {refusal.step} {refusal.date}: {problems}",
                markup=False,
            )
        raise typer.Exit(1)
