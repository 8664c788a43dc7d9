"""``oligotrial schedule``: a subject's protocol calendar, and deviations of actual dates."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    parse_date_option,
    print_json,
    read_json_file,
    stdout,
)
from oligotrial.errors import InputError, Problem
from oligotrial.protocol import load_protocol
from oligotrial.rules.schedule import PlannedEvent, VisitStatus, derive_calendar, derive_visit_status

_MAINTENANCE_DOSE = re.compile(r"M\d{2,}")

_STYLE = {
    "on time": "green",
    "early": "yellow",
    "late": "red",
    "missed": "red",
    "due": "cyan",
    "upcoming": "dim",
}


@handle_errors
def schedule(
    first_dose: str = typer.Option(..., "--first-dose", help="First dose date (cycle 1 day 1), YYYY-MM-DD."),
    randomized: str | None = typer.Option(None, "--randomized", help="Randomization date."),
    arm: str | None = typer.Option(None, "--arm", help="Arm id: control or experimental."),
    rt_end: str | None = typer.Option(None, "--rt-end", help="End of all radiotherapy (experimental arm)."),
    maintenance_start: str | None = typer.Option(
        None, "--maintenance-start", help="First maintenance dose, if known."
    ),
    last_dose: str | None = typer.Option(
        None, "--last-dose", help="Last study treatment, if treatment ended early."
    ),
    actual_file: Path | None = typer.Option(
        None, "--actual", help="JSON object of event id -> actual date.", dir_okay=False
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Day to judge missed/due events (default: today)."
    ),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Print the calendar of planned events with target dates and windows; with --actual, each event's status.

    The maintenance doses in --actual move the doses after them as the EDC's calendar does: each is due
    ``interval_days`` after the dose before as given (``M02``, ``M03``, ...; ``M01`` or ``MAINTSTART`` is the
    first maintenance dose unless --maintenance-start says otherwise).
    """
    protocol = load_protocol(protocol_file)
    actual = {} if actual_file is None else _read_actual(actual_file)
    course = {} if randomized is None else actual  # maintenance doses count once randomized
    first_maintenance = course.get("MAINTSTART", course.get("M01"))
    events = derive_calendar(
        protocol,
        _required(parse_date_option(first_dose, "--first-dose")),
        randomized=parse_date_option(randomized, "--randomized"),
        arm=arm,
        rt_end=parse_date_option(rt_end, "--rt-end"),
        maintenance_start=parse_date_option(maintenance_start, "--maintenance-start") or first_maintenance,
        maintenance_given=_maintenance_given(course),
        last_dose=parse_date_option(last_dose, "--last-dose"),
    )
    if actual_file is None:
        if json_output:
            print_json({"events": [_event_dict(e) for e in events]})
        else:
            _render_calendar(events)
        return
    day = parse_date_option(as_of, "--as-of") or date.today()  # noqa: DTZ011 - a calendar day, site-local
    statuses = derive_visit_status(events, actual, day)
    if json_output:
        print_json(
            {
                "as_of": day,
                "events": [
                    {
                        **_event_dict(s.event),
                        "status": s.status,
                        "actual": s.actual,
                        "days_outside": s.days_outside,
                    }
                    for s in statuses
                ],
            }
        )
    else:
        _render_statuses(statuses)


def _required(value: date | None) -> date:
    assert value is not None
    return value


def _maintenance_given(actual: dict[str, date]) -> dict[int, date]:
    """The later maintenance doses among the actual dates, by dose number (``M02`` -> 2)."""
    doses = {int(key[1:]): day for key, day in actual.items() if _MAINTENANCE_DOSE.fullmatch(key)}
    return {number: day for number, day in doses.items() if number > 1}


def _read_actual(path: Path) -> dict[str, date]:
    data = read_json_file(path, "actual dates")
    if not isinstance(data, dict):
        raise InputError.single(
            "SCHED-004", str(path), "expected a JSON object of event id -> YYYY-MM-DD", data
        )
    actual: dict[str, date] = {}
    problems = []
    for key, value in data.items():
        try:
            actual[key] = date.fromisoformat(value)
        except (TypeError, ValueError):
            problems.append(
                Problem("SCHED-004", f"actual.{key}", "expected an ISO 8601 date YYYY-MM-DD", value)
            )
    if problems:
        raise InputError(problems)
    return actual


def _event_dict(event: PlannedEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "phase": event.phase,
        "label": event.label,
        "target": event.target,
        "earliest": event.earliest,
        "latest": event.latest,
    }


def _render_calendar(events: tuple[PlannedEvent, ...]) -> None:
    table = Table(title="Protocol calendar")
    for column in ("id", "event", "phase", "target", "window"):
        table.add_column(column)
    for e in events:
        table.add_row(e.id, e.label, e.phase, str(e.target or "-"), f"{e.earliest} .. {e.latest}")
    stdout.print(table)


def _render_statuses(statuses: tuple[VisitStatus, ...]) -> None:
    table = Table(title="Protocol calendar and actual dates")
    for column in ("id", "event", "window", "actual", "status"):
        table.add_column(column)
    for s in statuses:
        outside = f" ({s.days_outside} d)" if s.days_outside else ""
        table.add_row(
            s.event.id,
            s.event.label,
            f"{s.event.earliest} .. {s.event.latest}",
            str(s.actual or "-"),
            f"[{_STYLE[s.status]}]{s.status}{outside}[/]",
        )
    stdout.print(table)
