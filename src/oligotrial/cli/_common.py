"""What every command shares: error handling with the exit codes of DESIGN.md, JSON output, file reading.

Exit codes: 0 ok, 1 failure, 2 bad input. With ``--json`` a command prints exactly one JSON document on
stdout (on failure ``{"error": ...}``); human messages, progress and logs go to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from oligotrial.errors import InputError, OligotrialError

if TYPE_CHECKING:
    from rich.progress import Progress

    from oligotrial.exports.datasets import DatasetFormat

P = ParamSpec("P")
R = TypeVar("R")

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


@contextlib.contextmanager
def live_progress(quiet: bool) -> Iterator[Progress]:
    """rich's live progress display on stderr with this CLI's columns (a task's description, its bar, done
    of total, time elapsed); hidden when ``quiet`` (as with ``--json``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, disable=quiet) as display:
        yield display


@contextlib.contextmanager
def progress_bars(quiet: bool, *steps: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per step (:func:`live_progress`); yields ``update(step, done, total)``."""
    with live_progress(quiet) as display:
        tasks = {step: display.add_task(step, total=None) for step in steps}

        def update(step: str, done: int, total: int) -> None:
            display.update(tasks[step], completed=done, total=total)

        yield update


@contextlib.contextmanager
def progress_steps(what: str, steps: list[str], quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar over named steps, for work that reports no finer progress (:func:`live_progress`):
    call ``start(step)`` as each step begins; the bar is complete when the block ends without error."""
    with live_progress(quiet) as display:
        task = display.add_task(f"{what} {steps[0]}", total=len(steps))

        def start(step: str) -> None:
            display.update(task, description=f"{what} {step}", completed=steps.index(step))

        yield start
        display.update(task, description=f"{what} done", completed=len(steps))


@contextlib.contextmanager
def progress_bar(what: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """One progress bar, :func:`progress_bars`; yields ``update(done, total)``."""
    with progress_bars(quiet, what) as update:
        yield functools.partial(update, what)


def to_jsonable(value: Any) -> Any:
    """Convert results (dates, numpy scalars, non-finite floats, tuples) to JSON-ready values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    typer.echo(json.dumps(to_jsonable(document), indent=2, ensure_ascii=False, allow_nan=False))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`OligotrialError` into its exit code and a message naming field, value and rule.

    The wrapped command must take a ``json_output`` keyword: when true the error is also printed as one
    JSON document on stdout.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OligotrialError as error:
            if kwargs.get("json_output"):
                print_json({"error": error.to_dict()})
            kind = "invalid input" if error.exit_code == 2 else "error"
            stderr.print(f"[bold red]{kind}:[/] ", end="")
            stderr.print(str(error), markup=False)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def read_json_file(path: Path, what: str) -> Any:
    """Read a JSON document; a missing or malformed file is an :class:`InputError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.single(
            "FILE-001", str(path), f"cannot read the {what} file: {exc.strerror}"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.single(
            "FILE-002",
            str(path),
            f"the {what} file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            line=exc.lineno,
        ) from None


def parse_date_option(text: str | None, option: str) -> date | None:
    """Parse an ISO 8601 calendar date given on the command line."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError.single(
            "CLI-001", option, f"expected an ISO 8601 date YYYY-MM-DD, got {text!r}", value=text
        ) from None


PROTOCOL_OPTION = typer.Option(
    None,
    "--protocol",
    help="Protocol file (YAML); default: the protocol shipped with oligotrial.",
    dir_okay=False,
)


def parse_dataset_formats(text: str) -> list[DatasetFormat]:
    """The ``--format`` option of dataset writers: ``csv``, ``xpt`` or ``both`` (else ``CLI-002``)."""
    choices: dict[str, list[DatasetFormat]] = {"csv": ["csv"], "xpt": ["xpt"], "both": ["csv", "xpt"]}
    if text not in choices:
        raise InputError.single("CLI-002", "--format", f"expected csv, xpt or both, got {text!r}", text)
    return choices[text]
