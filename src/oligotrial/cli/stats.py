"""``oligotrial stats ...``: survival and binary-endpoint statistics from CSV files.

Input CSV files have a header line; an empty cell or ``NA`` is a missing value, which is an error naming the
row and the column (exit 2), as are non-numeric or negative times. Codes: ``STAT-030`` unreadable file,
``STAT-031`` unknown column, ``STAT-032`` missing value, ``STAT-033`` not a number, ``STAT-034`` a
categorical covariate with a single level; the statistics raise the codes of :mod:`oligotrial.stats`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.errors import InputError
from oligotrial.stats import (
    compute_cox,
    compute_km,
    compute_logrank,
    compute_rate_ci,
    compute_rate_difference,
)

app = typer.Typer(help="Survival and binary-endpoint statistics.", no_args_is_help=True)

DATA_ARGUMENT = typer.Argument(..., help="CSV file with a header line.")
TIME_OPTION = typer.Option(..., "--time", help="Column of follow-up times (non-negative numbers).")
EVENT_OPTION = typer.Option(..., "--event", help="Column of event indicators.")
EVENT_VALUE_OPTION = typer.Option("1", "--event-value", help="Value of the event column meaning an event.")


def _read(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, null_values=["", "NA"])
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError.single("STAT-030", str(path), f"cannot read the CSV file: {exc}") from None


def _cells(frame: pl.DataFrame, column: str, option: str) -> list[str]:
    """The cells of a column as text; a missing column or a missing cell is an input error."""
    if column not in frame.columns:
        raise InputError.single(
            "STAT-031",
            option,
            f"no column {column!r} in the file; columns are {', '.join(frame.columns)}",
            value=column,
        )
    cells: list[str | None] = frame.get_column(column).to_list()
    for row, cell in enumerate(cells, start=1):
        if cell is None:
            raise _at("STAT-032", column, row, "missing value; fill it in or remove the row", None)
    return [str(cell).strip() for cell in cells]


def _at(code: str, column: str, row: int, message: str, value: Any) -> InputError:
    """An error at data row ``row`` (line ``row + 1`` of the file, after the header)."""
    return InputError.single(
        code, column, f"row {row}, column {column!r}: {message}", value=value, line=row + 1
    )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numbers(frame: pl.DataFrame, column: str, option: str, *, is_time: bool = False) -> np.ndarray[Any, Any]:
    values = []
    for row, cell in enumerate(_cells(frame, column, option), start=1):
        value = _number(cell)
        if value is None or not math.isfinite(value):
            raise _at("STAT-033", column, row, f"expected a number, got {cell!r}", cell)
        if is_time and value < 0:
            raise _at("STAT-002", column, row, f"expected a non-negative time, got {cell!r}", cell)
        values.append(value)
    return np.array(values, dtype=np.float64)


def _survival(frame: pl.DataFrame, time: str, event: str, event_value: str) -> tuple[Any, Any]:
    times = _numbers(frame, time, "--time", is_time=True)
    wanted = _number(event_value)
    events = [
        cell == event_value if wanted is None or _number(cell) is None else _number(cell) == wanted
        for cell in _cells(frame, event, "--event")
    ]
    return times, np.array(events, dtype=bool)


def _labels(frame: pl.DataFrame, column: str, option: str) -> list[Any]:
    """Group or stratum labels: numbers when every cell is a number (whole numbers as int), else text."""
    cells = _cells(frame, column, option)
    numbers = [_number(cell) for cell in cells]
    if any(n is None for n in numbers):
        return cells
    return [int(n) if n is not None and n.is_integer() else n for n in numbers]


def _design(frame: pl.DataFrame, covariates: str) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Numeric columns as they are; text columns as indicators against their first sorted level."""
    columns, names = [], []
    for column in (c.strip() for c in covariates.split(",") if c.strip()):
        cells = _cells(frame, column, "--covariates")
        if all(_number(cell) is not None for cell in cells):
            columns.append(_numbers(frame, column, "--covariates"))
            names.append(column)
            continue
        levels = sorted(set(cells))
        if len(levels) < 2:
            raise InputError.single(
                "STAT-034", column, f"the covariate has a single level {levels[0]!r}; drop it", levels[0]
            )
        for level in levels[1:]:
            columns.append(np.array([cell == level for cell in cells], dtype=np.float64))
            names.append(f"{column}={level}")
    if not columns:
        raise InputError.single("STAT-031", "--covariates", "expected one or more column names, e.g. arm,age")
    return np.column_stack(columns), names


def _interval(lower: float, upper: float) -> list[float | None]:
    return [None if math.isnan(lower) else lower, None if math.isnan(upper) else upper]


@app.command("km")
@handle_errors
def km(
    data: Path = DATA_ARGUMENT,
    time: str = TIME_OPTION,
    event: str = EVENT_OPTION,
    group: str | None = typer.Option(None, "--group", help="Column of groups: one curve per group."),
    conf_type: str = typer.Option("log", "--conf-type", help="log, log-log or plain."),
    event_value: str = EVENT_VALUE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Kaplan–Meier medians with confidence intervals, as R survfit prints them."""
    frame = _read(data)
    times, events = _survival(frame, time, event, event_value)
    labels = None if group is None else _labels(frame, group, "--group")
    curves = compute_km(times, events, labels, conf_type=conf_type)  # type: ignore[arg-type]
    groups = [
        {
            "group": c.group,
            "n": c.n,
            "events": c.events,
            "median": None if math.isnan(c.median) else c.median,
            "median_ci": _interval(c.median_lower, c.median_upper),
        }
        for c in curves
    ]
    if json_output:
        print_json({"groups": groups})
        return
    table = Table("group", "n", "events", "median", f"{conf_type} 95% CI")
    for g in groups:
        low, high = g["median_ci"]
        table.add_row(
            str(g["group"] or "all"),
            str(g["n"]),
            str(g["events"]),
            _text(g["median"]),
            f"{_text(low)} to {_text(high)}",
        )
    stdout.print(table)


def _text(value: Any) -> str:
    return "NA" if value is None else f"{value:.6g}"


@app.command("logrank")
@handle_errors
def logrank(
    data: Path = DATA_ARGUMENT,
    time: str = TIME_OPTION,
    event: str = EVENT_OPTION,
    group: str = typer.Option(..., "--group", help="Column of the groups to compare."),
    strata: str | None = typer.Option(None, "--strata", help="Column of strata."),
    event_value: str = EVENT_VALUE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Log-rank test, stratified with --strata, as R survdiff."""
    frame = _read(data)
    times, events = _survival(frame, time, event, event_value)
    result = compute_logrank(
        times,
        events,
        _labels(frame, group, "--group"),
        None if strata is None else _labels(frame, strata, "--strata"),
    )
    document = {"chisq": result.chisq, "df": result.df, "p": None if math.isnan(result.p) else result.p}
    if json_output:
        print_json(document)
        return
    stdout.print(f"Chisq = {result.chisq:.6g} on {result.df} degrees of freedom, p = {_text(document['p'])}")


@app.command("cox")
@handle_errors
def cox(
    data: Path = DATA_ARGUMENT,
    time: str = TIME_OPTION,
    event: str = EVENT_OPTION,
    covariates: str = typer.Option(..., "--covariates", help="Comma-separated covariate columns."),
    strata: str | None = typer.Option(None, "--strata", help="Column of strata."),
    ties: str = typer.Option("efron", "--ties", help="efron or breslow."),
    event_value: str = EVENT_VALUE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Cox proportional hazards model, as R coxph."""
    frame = _read(data)
    times, events = _survival(frame, time, event, event_value)
    x, names = _design(frame, covariates)
    fit = compute_cox(
        times,
        events,
        x,
        None if strata is None else _labels(frame, strata, "--strata"),
        names=names,
        ties=ties,  # type: ignore[arg-type]
    )
    coefficients = [
        {
            "name": name,
            "coef": fit.coef[j],
            "se": fit.se[j],
            "hr": fit.hr[j],
            "hr_ci": [fit.hr_lower[j], fit.hr_upper[j]],
            "z": fit.z[j],
            "p": fit.p[j],
        }
        for j, name in enumerate(fit.names)
    ]
    if json_output:
        print_json(
            {
                "n": fit.n,
                "events": fit.events,
                "coefficients": coefficients,
                "loglik": [fit.loglik_null, fit.loglik],
            }
        )
        return
    table = Table("covariate", "coef", "se", "HR", "95% CI", "z", "p")
    for c in coefficients:
        table.add_row(
            c["name"],
            *(f"{c[k]:.6g}" for k in ("coef", "se", "hr")),
            f"{c['hr_ci'][0]:.6g} to {c['hr_ci'][1]:.6g}",
            f"{c['z']:.4g}",
            f"{c['p']:.4g}",
        )
    stdout.print(table)
    stdout.print(
        f"n = {fit.n}, events = {fit.events}; likelihood ratio test = {fit.lr:.6g} on {fit.df} df, "
        f"p = {fit.lr_p:.4g}"
    )


@app.command("rate")
@handle_errors
def rate(
    events: int = typer.Option(..., "--events", help="Subjects with the event."),
    n: int = typer.Option(..., "--n", help="Subjects."),
    json_output: bool = JSON_OPTION,
) -> None:
    """A rate with its exact (Clopper–Pearson) 95% confidence interval."""
    result = compute_rate_ci(events, n)
    if json_output:
        print_json({"events": events, "n": n, "rate": result.estimate, "ci": [result.lower, result.upper]})
        return
    stdout.print(f"{events}/{n} = {result.estimate:.4f} (95% CI {result.lower:.4f} to {result.upper:.4f})")


@app.command("rate-diff")
@handle_errors
def rate_diff(
    events1: int = typer.Option(..., "--events1", help="Events in the first group."),
    n1: int = typer.Option(..., "--n1", help="Subjects in the first group."),
    events2: int = typer.Option(..., "--events2", help="Events in the second group."),
    n2: int = typer.Option(..., "--n2", help="Subjects in the second group."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Difference of two rates (first minus second) with the Miettinen–Nurminen 95% interval."""
    result = compute_rate_difference(events1, n1, events2, n2)
    if json_output:
        print_json({"difference": result.estimate, "ci": [result.lower, result.upper]})
        return
    stdout.print(
        f"{events1}/{n1} - {events2}/{n2} = {result.estimate:.4f} "
        f"(95% CI {result.lower:.4f} to {result.upper:.4f}, Miettinen-Nurminen)"
    )
