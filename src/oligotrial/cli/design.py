"""``oligotrial design ...``: events, power, sample size and group-sequential boundaries.

The calculators live in :mod:`oligotrial.stats.design`; this module parses options, renames the core's
argument names to the option names in error messages, and prints a table or (``--json``) one JSON document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.table import Table

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stdout
from oligotrial.errors import InputError
from oligotrial.stats.design import (
    Boundaries,
    compute_boundaries,
    compute_events,
    compute_power,
    compute_sample_size,
)

__all__ = ["app", "boundaries", "events", "power", "sample_size"]

app = typer.Typer(help="Trial design calculators.", no_args_is_help=True)

P = ParamSpec("P")
R = TypeVar("R")

#: Argument of the core -> option of the command line, for error messages.
OPTION_NAMES = {
    "hazard_ratio": "--hr",
    "alpha": "--alpha",
    "power": "--power",
    "sided": "--sided",
    "allocation": "--allocation",
    "method": "--method",
    "events": "--events",
    "control_median": "--control-median",
    "control_hazard": "--control-hazard",
    "accrual_duration": "--accrual-duration",
    "follow_up": "--follow-up",
    "accrual_rate": "--accrual-rate",
    "dropout_rate": "--dropout-rate",
    "dropout_time": "--dropout-time",
    "dropout_hazard": "--dropout-hazard",
    "inflation_factor": "--inflation-factor",
    "information_rates": "--information-rates",
    "k": "--k",
    "spending": "--spending",
    "futility": "--futility",
    "beta": "--beta",
}


def _option_names(func: Callable[P, R]) -> Callable[P, R]:
    """Re-raise the core's :class:`InputError` with option names (``--hr``) in place of argument names."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as error:
            problems = [
                dataclasses.replace(p, field=OPTION_NAMES.get(p.field, p.field)) for p in error.problems
            ]
            raise type(error)(problems) from None

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


HR_OPTION = typer.Option(..., "--hr", help="Hazard ratio experimental/control under the alternative.")
ALPHA_OPTION = typer.Option(
    0.05, "--alpha", help="Total type I error (split over both tails when two-sided)."
)
POWER_OPTION = typer.Option(0.8, "--power", help="Power, 1 - beta.")
SIDED_OPTION = typer.Option(2, "--sided", help="1 (one-sided) or 2 (two-sided).")
ALLOCATION_OPTION = typer.Option(
    1.0, "--allocation", help="Ratio of subjects experimental:control (2 means 2:1)."
)
METHOD_OPTION = typer.Option("schoenfeld", "--method", help="schoenfeld or freedman.")


def _table(title: str, rows: list[tuple[str, Any]]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, _fmt(value))
    stdout.print(table)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@app.command("events")
@handle_errors
def events(
    hr: float = HR_OPTION,
    alpha: float = ALPHA_OPTION,
    power: float = POWER_OPTION,
    sided: int = SIDED_OPTION,
    allocation: float = ALLOCATION_OPTION,
    method: str = METHOD_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Events for a log-rank test to detect a hazard ratio (Schoenfeld or Freedman)."""
    result = _option_names(compute_events)(
        hr,
        alpha,
        power,
        sided=sided,
        allocation=allocation,
        method=method,  # type: ignore[arg-type]  # checked by the core
    )
    document = dataclasses.asdict(result)
    if json_output:
        print_json(document)
    else:
        _table(f"Events ({result.method})", list(document.items()))


@app.command("power")
@handle_errors
def power(
    events: float = typer.Option(..., "--events", help="Number of events at the analysis."),
    hr: float = HR_OPTION,
    alpha: float = ALPHA_OPTION,
    sided: int = SIDED_OPTION,
    allocation: float = ALLOCATION_OPTION,
    method: str = METHOD_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Power of a log-rank test after a number of events."""
    value = _option_names(compute_power)(
        events,
        hr,
        alpha,
        sided=sided,
        allocation=allocation,
        method=method,  # type: ignore[arg-type]  # checked by the core
    )
    document = {
        "power": value,
        "events": events,
        "hazard_ratio": hr,
        "alpha": alpha,
        "sided": sided,
        "allocation": allocation,
        "method": method,
    }
    if json_output:
        print_json(document)
    else:
        _table(f"Power ({method})", list(document.items()))


@app.command("sample-size")
@handle_errors
def sample_size(
    hr: float = HR_OPTION,
    alpha: float = ALPHA_OPTION,
    power: float = POWER_OPTION,
    sided: int = SIDED_OPTION,
    allocation: float = ALLOCATION_OPTION,
    method: str = METHOD_OPTION,
    control_median: float | None = typer.Option(
        None, "--control-median", help="Median event time in the control arm (or --control-hazard)."
    ),
    control_hazard: float | None = typer.Option(
        None, "--control-hazard", help="Exponential event hazard in the control arm, per time unit."
    ),
    accrual_duration: float | None = typer.Option(None, "--accrual-duration", help="Accrual duration."),
    follow_up: float | None = typer.Option(None, "--follow-up", help="Follow-up after the end of accrual."),
    accrual_rate: float | None = typer.Option(
        None, "--accrual-rate", help="Subjects per time unit (give two of duration, follow-up and rate)."
    ),
    dropout_rate: float = typer.Option(
        0.0, "--dropout-rate", help="Probability of dropping out by --dropout-time (both arms)."
    ),
    dropout_time: float = typer.Option(12.0, "--dropout-time", help="Time at which --dropout-rate applies."),
    dropout_hazard: float | None = typer.Option(
        None, "--dropout-hazard", help="Exponential drop-out hazard (instead of --dropout-rate)."
    ),
    inflation_factor: float = typer.Option(
        1.0, "--inflation-factor", help="Multiply the events (group-sequential maximum information)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Events, subjects and study duration with uniform accrual, exponential events and drop-out.

    Time units are whatever the median, durations and rates share (e.g. months).
    """
    result = _option_names(compute_sample_size)(
        hr,
        alpha,
        power,
        sided=sided,
        allocation=allocation,
        method=method,  # type: ignore[arg-type]  # checked by the core
        control_median=control_median,
        control_hazard=control_hazard,
        accrual_duration=accrual_duration,
        follow_up=follow_up,
        accrual_rate=accrual_rate,
        dropout_rate=dropout_rate,
        dropout_time=dropout_time,
        dropout_hazard=dropout_hazard,
        inflation_factor=inflation_factor,
    )
    document = dataclasses.asdict(result)
    document.update(
        hazard_ratio=hr, alpha=alpha, power=power, sided=sided, allocation=allocation, method=method
    )
    if json_output:
        print_json(document)
    else:
        _table(f"Sample size ({method})", list(document.items()))


def _parse_rates(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError.single(
            "DESIGN-020",
            "--information-rates",
            f"expected comma-separated numbers such as 0.5,1, got {text!r}",
            value=text,
        ) from None


def _boundaries_document(result: Boundaries) -> dict[str, Any]:
    looks = []
    for index, rate in enumerate(result.information_rates):
        looks.append(
            {
                "look": index + 1,
                "information_rate": rate,
                "efficacy_z": result.efficacy_z[index],
                "efficacy_p": result.efficacy_p[index],
                "futility_z": None if result.futility_z is None else result.futility_z[index],
                "alpha_spent": result.alpha_spent[index],
                "beta_spent": None if result.beta_spent is None else result.beta_spent[index],
            }
        )
    return {
        "looks": looks,
        "alpha": result.alpha,
        "sided": result.sided,
        "spending": result.spending,
        "futility": result.futility,
        "beta": result.beta,
        "drift": result.drift,
        "inflation_factor": result.inflation_factor,
    }


@app.command("boundaries")
@handle_errors
def boundaries(
    k: int | None = typer.Option(None, "--k", help="Number of equally spaced looks."),
    information_rates: str | None = typer.Option(
        None, "--information-rates", help="Information fraction of each look, e.g. 0.5,1 (instead of --k)."
    ),
    alpha: float = typer.Option(0.025, "--alpha", help="Total type I error."),
    sided: int = typer.Option(1, "--sided", help="1 (one-sided) or 2 (symmetric two-sided)."),
    spending: str = typer.Option("obf", "--spending", help="Alpha spending: obf or pocock (Lan-DeMets)."),
    futility: str | None = typer.Option(
        None, "--futility", help="Non-binding futility by beta spending: obf or pocock (needs --beta)."
    ),
    beta: float | None = typer.Option(
        None, "--beta", help="Type II error (gives drift and inflation factor)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Group-sequential efficacy (and optional futility) bounds by Lan-DeMets spending."""
    rates = _parse_rates(information_rates)
    result = _option_names(compute_boundaries)(
        rates,
        k=k,
        alpha=alpha,
        sided=sided,
        spending=spending,  # type: ignore[arg-type]  # checked by the core
        futility=futility,  # type: ignore[arg-type]  # checked by the core
        beta=beta,
    )
    document = _boundaries_document(result)
    if json_output:
        print_json(document)
        return
    kind = "two-sided" if result.sided == 2 else "one-sided"
    table = Table(title=f"Boundaries ({result.spending} spending, {kind} alpha {result.alpha:g})")
    for column in ("look", "information", "efficacy z", "nominal p", "futility z", "alpha spent"):
        table.add_column(column, justify="right")
    for look in document["looks"]:
        table.add_row(
            str(look["look"]),
            _fmt(look["information_rate"]),
            f"{look['efficacy_z']:.4f}",
            f"{look['efficacy_p']:.6g}",
            "-" if look["futility_z"] is None else f"{look['futility_z']:.4f}",
            f"{look['alpha_spent']:.6g}",
        )
    stdout.print(table)
    if result.drift is not None:
        stdout.print(f"drift {result.drift:.6g}, inflation factor {result.inflation_factor:.6g}")
