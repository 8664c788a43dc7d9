"""Best overall response over whole studies as subject x assessment matrices (private).

The RS records are ordered and scattered into integer matrices (one row per subject, one column per
assessment, left aligned, padded with ``PAD``). Every rule is then a numpy operation over all subjects at
once, except the confirmation scan, which is a compiled pass over the matrix
(:mod:`oligotrial.rules._recist_kernels`, as is the scatter of valid RS records); no Python loop runs
over subjects. Rules are documented in :func:`oligotrial.rules.recist.derive_best_overall_response`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial._days import dates_of
from oligotrial.errors import Problem
from oligotrial.rules._recist_fast import codes_in, small_codes
from oligotrial.rules._recist_input import as_date, problems_from, raise_if, require_columns

IntMatrix = npt.NDArray[np.int64]
BoolMatrix = npt.NDArray[np.bool_]

PAD = -1


@dataclass(frozen=True)
class Matrices:
    """Subjects (DM order) x assessments (date order): codes, dates (days since 1970) and days from ref."""

    subjects: pl.Series
    code: IntMatrix
    date: IntMatrix
    day: IntMatrix


def build_matrices(
    rs: pl.DataFrame,
    dm: pl.DataFrame,
    codes: tuple[str, ...],
    prefix: str,
    response_column: str = "OVRLRESP",
) -> Matrices:
    """Check RS and DM and scatter the responses into matrices; codes map to their index in ``codes``.

    Valid input takes :func:`fast_matrices`; otherwise (or when it steps aside) the checks below run
    and raise every problem found.
    """
    rs = _responses(rs, response_column)
    fast = fast_matrices(rs, dm, codes, response_column)
    if fast is not None:
        return fast
    return checked_matrices(rs, dm, codes, prefix, response_column)


def checked_matrices(
    rs: pl.DataFrame,
    dm: pl.DataFrame,
    codes: tuple[str, ...],
    prefix: str,
    response_column: str = "OVRLRESP",
) -> Matrices:
    """The reference path of :func:`build_matrices` (wide RS): every check, then the matrices."""
    require_columns(rs, ("USUBJID", "RSDTC", response_column), "RS", f"{prefix}-020")
    require_columns(dm, ("USUBJID", "RFSTDTC"), "DM", f"{prefix}-020")
    problems: list[Problem] = []
    dm_n = dm.with_row_index("ROW").select(
        "ROW",
        USUBJID=pl.col("USUBJID").cast(pl.Utf8).str.strip_chars(),
        RFSTDTC_TEXT=pl.col("RFSTDTC").cast(pl.Utf8),
        REF=as_date(dm, "RFSTDTC"),
    )
    problems += problems_from(
        dm_n.filter(pl.len().over("USUBJID") > 1).unique("USUBJID", maintain_order=True),
        f"{prefix}-025",
        "DM",
        "USUBJID",
        "subject listed more than once in DM; keep one record per subject",
        lesion_column=None,
        value_column="USUBJID",
    )
    recs = rs.with_row_index("ROW").select(
        "ROW",
        USUBJID=pl.col("USUBJID").cast(pl.Utf8).str.strip_chars(),
        RSDTC_TEXT=pl.col("RSDTC").cast(pl.Utf8),
        RSDTC=as_date(rs, "RSDTC"),
        RESP=pl.col(response_column).cast(pl.Utf8).str.strip_chars(),
    )
    problems += problems_from(
        recs.filter(~pl.col("RESP").is_in(codes) | pl.col("RESP").is_null()),
        f"{prefix}-021",
        "RS",
        response_column,
        f"unknown response code {{value!r}}; expected one of {', '.join(codes)}",
        lesion_column=None,
        value_column="RESP",
    )
    problems += problems_from(
        recs.filter(pl.col("RSDTC").is_null()),
        f"{prefix}-022",
        "RS",
        "RSDTC",
        "the assessment date is missing or not an ISO 8601 date (YYYY-MM-DD): {value!r}",
        lesion_column=None,
        value_column="RSDTC_TEXT",
    )
    dm_n = dm_n.unique("USUBJID", keep="first", maintain_order=True)
    recs = recs.join(dm_n.select("USUBJID", "REF", IN_DM=pl.lit(True)), on="USUBJID", how="left")
    problems += problems_from(
        recs.filter(pl.col("IN_DM").is_null()).unique("USUBJID", maintain_order=True),
        f"{prefix}-023",
        "RS",
        "USUBJID",
        "subject {value} has responses but is not in DM; add the subject to DM",
        lesion_column=None,
        value_column="USUBJID",
    )
    problems += problems_from(
        dm_n.filter(pl.col("REF").is_null() & pl.col("USUBJID").is_in(recs["USUBJID"].implode())),
        f"{prefix}-024",
        "DM",
        "RFSTDTC",
        "the reference start date {value!r} is missing or not an ISO 8601 date, and the subject has "
        "responses; the SD minimum duration is counted from it",
        lesion_column=None,
        value_column="RFSTDTC_TEXT",
    )
    raise_if(problems)
    recs = recs.unique(["USUBJID", "RSDTC", "RESP"], maintain_order=True)
    clash = recs.filter(pl.len().over("USUBJID", "RSDTC") > 1).unique(["USUBJID", "RSDTC"])
    raise_if(
        problems_from(
            clash.rename({"RSDTC": "DATE"}),
            f"{prefix}-026",
            "RS",
            response_column,
            "two different responses on one date ({value} among them); keep one overall response per "
            "assessment",
            lesion_column=None,
            value_column="RESP",
        )
    )
    subjects = dm_n["USUBJID"].cast(pl.Utf8)
    index = pl.DataFrame({"USUBJID": subjects, "SUBJ": np.arange(len(subjects), dtype=np.int64)})
    recs = (
        recs.join(index, on="USUBJID", how="inner")
        .sort("SUBJ", "RSDTC")
        .with_columns(
            COL=pl.int_range(0, pl.len()).over("SUBJ"),
            CODE=pl.col("RESP").replace_strict(list(codes), list(range(len(codes))), return_dtype=pl.Int64),
            DATE_N=pl.col("RSDTC").cast(pl.Int64),
            DAY=(pl.col("RSDTC") - pl.col("REF")).dt.total_days(),
        )
    )
    cols = recs["COL"].to_numpy()
    shape = (len(subjects), int(cols.max()) + 1 if cols.size else 1)
    code = np.full(shape, PAD, dtype=np.int64)
    date = np.zeros(shape, dtype=np.int64)
    day = np.zeros(shape, dtype=np.int64)
    rows = recs["SUBJ"].to_numpy()
    code[rows, cols] = recs["CODE"].to_numpy()
    date[rows, cols] = recs["DATE_N"].to_numpy()
    day[rows, cols] = recs["DAY"].to_numpy()
    return Matrices(subjects=subjects, code=code, date=date, day=day)


def fast_matrices(
    rs: pl.DataFrame, dm: pl.DataFrame, codes: tuple[str, ...], response_column: str
) -> Matrices | None:
    """:func:`build_matrices` for valid input; ``None`` when any check would fail.

    Text is coded on its distinct values (see :mod:`oligotrial.rules._recist_fast`); then
    :func:`oligotrial.rules._recist_kernels.assessment_matrices` checks the codes, orders the records by
    (subject, date) (no sort when RS is already in that order), counts repeated identical records once,
    finds two different responses on one date and fills the matrices.
    """
    if any(c not in rs.columns for c in ("USUBJID", "RSDTC", response_column)):
        return None
    if any(c not in dm.columns for c in ("USUBJID", "RFSTDTC")) or rs.height == 0:
        return None
    if len(codes) >= 100:  # response codes are int8 below (RECIST and iRECIST have at most 8)
        return None
    dm_n = dm.select(
        USUBJID=pl.col("USUBJID").cast(pl.Utf8).str.strip_chars(),
        REF=as_date(dm, "RFSTDTC").cast(pl.Int32),
    )
    names = dm_n["USUBJID"]
    if names.null_count() or names.n_unique() != dm_n.height:  # RECIST-025 (and null ids)
        return None
    subject = codes_in(rs["USUBJID"], names)
    response = small_codes(rs, {response_column: codes}, upper=False)
    if subject is None or response is None:
        return None
    dates = rs.select(as_date(rs, "RSDTC").cast(pl.Int32)).to_series()
    if dates.null_count():  # RECIST-022
        return None
    return coded_matrices(
        subject, dates.to_numpy(), response[response_column], dm_n["REF"], names, len(codes)
    )


def coded_matrices(
    subject: npt.NDArray[np.int64],
    date: npt.NDArray[np.int32],
    code: npt.NDArray[np.signedinteger[Any]],
    ref: pl.Series,
    subjects: pl.Series,
    n_codes: int,
) -> Matrices | None:
    """The matrices of :func:`fast_matrices` from records already coded; ``None`` when a check fails.

    Parameters
    ----------
    subject, date, code
        Per record: its subject (row of ``subjects``; negative when none), its date (days since 1970) and
        its response (index in the codes; -1 null, ``n_codes`` or more unknown).
    ref, subjects
        Per subject: the reference date (``pl.Int32`` days, null when missing) and USUBJID (unique).
    n_codes
        The number of response codes.
    """
    if not subject.shape[0]:
        return None
    from oligotrial.rules._recist_kernels import assessment_matrices  # compiled on first use

    day0 = int(date.min())
    n_days = int(date.max()) - day0 + 1
    if subjects.len() * n_days * n_codes >= 1 << 62:
        return None
    ok, out_code, out_date, out_day = assessment_matrices(
        subject,
        date,
        code,
        ref.fill_null(0).to_numpy(),
        ref.is_null().to_numpy(),
        n_codes,
        day0,
        n_days,
    )
    if not ok:
        return None
    return Matrices(subjects=subjects, code=out_code, date=out_date, day=out_day)


def _responses(rs: pl.DataFrame, response_column: str) -> pl.DataFrame:
    """Accept wide RS (one column per test) or long RS (RSTESTCD / RSSTRESC rows)."""
    if response_column in rs.columns or not {"RSTESTCD", "RSSTRESC"} <= set(rs.columns):
        return rs
    return rs.filter(pl.col("RSTESTCD").cast(pl.Utf8).str.strip_chars() == response_column).rename(
        {"RSSTRESC": response_column}
    )


def truncate_after(code: IntMatrix, stop: BoolMatrix) -> IntMatrix:
    """Pad every column after the first ``stop`` of its row (the stopping column itself is kept)."""
    seen_before = np.zeros_like(stop)
    seen_before[:, 1:] = np.logical_or.accumulate(stop, axis=1)[:, :-1]
    return np.where(seen_before, PAD, code)


def best_responses(
    m: Matrices, *, confirmation_min_days: int, max_ne_between_confirmation: int, sd_min_days: int
) -> tuple[IntMatrix, IntMatrix, IntMatrix, IntMatrix, IntMatrix]:
    """RECIST BOR and confirmed BOR per subject of ``m`` (codes in ``RESPONSE_CODES`` order): best code
    (``PAD`` without assessments), its date, confirmed best code, its date, first confirmed response date
    (dates -1 when none); one compiled pass per subject,
    :func:`oligotrial.rules._recist_kernels.best_responses`, whose Notes give the rules."""
    from oligotrial.rules._recist_kernels import best_responses as scan  # compiled on first use

    result: tuple[IntMatrix, IntMatrix, IntMatrix, IntMatrix, IntMatrix] = scan(
        np.ascontiguousarray(m.code, dtype=np.int64),
        np.ascontiguousarray(m.date, dtype=np.int64),
        np.ascontiguousarray(m.day, dtype=np.int64),
        confirmation_min_days,
        max_ne_between_confirmation,
        sd_min_days,
    )
    return result


def best(code: IntMatrix, rank: tuple[int, ...], date: IntMatrix) -> tuple[IntMatrix, IntMatrix]:
    """Best code per row by ``rank`` (best first) and the date of its first occurrence (-1 if none)."""
    order = np.full(max(rank) + 2, len(rank), dtype=np.int64)
    order[np.asarray(rank)] = np.arange(len(rank))
    order_of = np.where(code == PAD, len(rank), order[np.where(code == PAD, 0, code)])
    best_order = order_of.min(axis=1) if code.shape[1] else np.full(code.shape[0], len(rank))
    rank_arr = np.append(np.asarray(rank, dtype=np.int64), PAD)
    best_code = rank_arr[best_order]
    hit = (order_of == best_order[:, None]) & (code != PAD)
    first = hit.argmax(axis=1)
    best_date = np.where(hit.any(axis=1), date[np.arange(code.shape[0]), first], -1)
    return best_code, best_date


def to_dates(days: npt.NDArray[np.int64]) -> pl.Series:
    """Days since 1970 (-1 = none) to a polars Date series with nulls."""
    return dates_of("days", days, days >= 0)
