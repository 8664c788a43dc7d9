"""``oligotrial recist ...``: RECIST 1.1 and iRECIST responses from SDTM-shaped TU/TR/RS/DM files.

Reading and writing files happens here; the rules live in :mod:`oligotrial.rules.recist` and
:mod:`oligotrial.rules.irecist`. Protocol settings (confirmation interval, NE allowance, SD minimum) come
from the options when given, otherwise from the protocol file (``--protocol``, default the packaged one).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import typer

from oligotrial.cli._common import JSON_OPTION, handle_errors, print_json, stderr
from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.rules.irecist import derive_irecist_best_overall_response, derive_irecist_timepoint_responses
from oligotrial.rules.recist import derive_best_overall_response, derive_timepoint_responses

app = typer.Typer(help="RECIST 1.1 and iRECIST responses.", no_args_is_help=True)

TU_OPTION = typer.Option(..., "--tu", help="SDTM TU (tumour identification) CSV file.")
TR_OPTION = typer.Option(..., "--tr", help="SDTM TR (tumour results) CSV file.")
DM_OPTION = typer.Option(..., "--dm", help="SDTM DM CSV file (USUBJID, RFSTDTC).")
OUT_OPTION = typer.Option(None, "--out", help="Write CSV here instead of stdout.")
IRECIST_OPTION = typer.Option(False, "--irecist", help="Add iRECIST responses (exploratory).")
PROTOCOL_OPTION = typer.Option(None, "--protocol", help="Protocol file (default: the packaged protocol).")
CONFIRM_OPTION = typer.Option(
    None, "--confirm-days", help="Minimum days between a CR/PR and its confirmation (default: protocol)."
)
MAX_NE_OPTION = typer.Option(
    None,
    "--max-ne",
    help="Maximum NE assessments between a response and its confirmation (default: protocol).",
)
MIN_SD_OPTION = typer.Option(
    None, "--min-sd-days", help="Minimum days from RFSTDTC for SD to count (default: protocol)."
)


def _read_csv(path: Path, table: str) -> pl.DataFrame:
    """Read a CSV file with every column as text; the engine parses and checks values."""
    try:
        return pl.read_csv(path, infer_schema=False)
    except FileNotFoundError:
        raise InputError.single(
            "FILE-001", str(path), f"cannot read the {table} file: no such file"
        ) from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError.single(
            "FILE-003", str(path), f"cannot read the {table} file as CSV: {str(exc).splitlines()[0]}"
        ) from None


def _settings(
    protocol: Path | None, confirm_days: int | None, max_ne: int | None, min_sd_days: int | None
) -> dict[str, int]:
    """Options override the protocol's response settings; the protocol is read only when needed."""
    if confirm_days is None or max_ne is None or min_sd_days is None:
        response = load_protocol(protocol).response
        confirm_days = response.confirmation_min_days if confirm_days is None else confirm_days
        max_ne = response.max_ne_between_confirmation if max_ne is None else max_ne
        min_sd_days = response.sd_min_days if min_sd_days is None else min_sd_days
    return {
        "confirmation_min_days": confirm_days,
        "max_ne_between_confirmation": max_ne,
        "sd_min_days": min_sd_days,
    }


def _best(rs: pl.DataFrame, dm: pl.DataFrame, settings: dict[str, int], irecist: bool) -> pl.DataFrame:
    subjects = derive_best_overall_response(rs, dm, **settings)
    if irecist:
        if "IOVRLRESP" not in rs.columns and "RSTESTCD" not in rs.columns:
            raise InputError.single(
                "IRECIST-020", "RS.IOVRLRESP", "--irecist needs iRECIST responses in column IOVRLRESP"
            )
        ibor = derive_irecist_best_overall_response(rs, dm, sd_min_days=settings["sd_min_days"])
        subjects = subjects.join(ibor, on="USUBJID", how="left", maintain_order="left")
    return subjects


def _emit(frame: pl.DataFrame, out: Path | None) -> None:
    """CSV to ``out`` or to stdout."""
    if out is not None:
        frame.write_csv(out)
        stderr.print(f"wrote {frame.height} rows to {out}")
    else:
        buffer = io.StringIO()
        frame.write_csv(buffer)
        typer.echo(buffer.getvalue(), nl=False)


def _timepoints(tu: Path, tr: Path, irecist: bool, protocol: Path | None) -> pl.DataFrame:
    tu_frame, tr_frame = _read_csv(tu, "TU"), _read_csv(tr, "TR")
    if irecist:
        window = load_protocol(protocol).response.irecist.confirmation_window_days
        return derive_irecist_timepoint_responses(
            tu_frame, tr_frame, confirmation_window_days=(window.min, window.max)
        )
    return derive_timepoint_responses(tu_frame, tr_frame)


@app.command("timepoints")
@handle_errors
def timepoints(
    tu: Path = TU_OPTION,
    tr: Path = TR_OPTION,
    out: Path | None = OUT_OPTION,
    irecist: bool = IRECIST_OPTION,
    protocol: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Time-point responses (RS-shaped: TRGRESP, NTRGRESP, NEWLIND, OVRLRESP, SOD, percent changes)."""
    rs = _timepoints(tu, tr, irecist, protocol)
    if json_output:
        print_json({"records": rs.to_dicts()})
        if out is not None:
            rs.write_csv(out)
    else:
        _emit(rs, out)


@app.command("bor")
@handle_errors
def bor(
    rs: Path = typer.Option(..., "--rs", help="RS CSV file: USUBJID, RSDTC, OVRLRESP (wide or long)."),
    dm: Path = DM_OPTION,
    confirm_days: int | None = CONFIRM_OPTION,
    max_ne: int | None = MAX_NE_OPTION,
    min_sd_days: int | None = MIN_SD_OPTION,
    protocol: Path | None = PROTOCOL_OPTION,
    irecist: bool = IRECIST_OPTION,
    out: Path | None = OUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Best overall response per subject: BOR, confirmed BOR, CRSP (confirmed response), CB (benefit)."""
    settings = _settings(protocol, confirm_days, max_ne, min_sd_days)
    subjects = _best(_read_csv(rs, "RS"), _read_csv(dm, "DM"), settings, irecist)
    if json_output:
        print_json({"settings": settings, "subjects": subjects.to_dicts()})
    else:
        _emit(subjects, out)


@app.command("evaluate")
@handle_errors
def evaluate(
    tu: Path = TU_OPTION,
    tr: Path = TR_OPTION,
    dm: Path = DM_OPTION,
    irecist: bool = IRECIST_OPTION,
    confirm_days: int | None = CONFIRM_OPTION,
    max_ne: int | None = MAX_NE_OPTION,
    min_sd_days: int | None = MIN_SD_OPTION,
    protocol: Path | None = PROTOCOL_OPTION,
    out: Path | None = OUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Time-point responses then best overall response, in one run (``--out`` gets the per-subject CSV)."""
    settings = _settings(protocol, confirm_days, max_ne, min_sd_days)
    dm_frame = _read_csv(dm, "DM")
    rs = _timepoints(tu, tr, irecist, protocol)
    subjects = _best(rs, dm_frame, settings, irecist)
    if json_output:
        print_json({"settings": settings, "timepoints": rs.to_dicts(), "subjects": subjects.to_dicts()})
    else:
        _emit(subjects, out)
