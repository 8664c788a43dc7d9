"""Best overall response over whole studies as subject x assessment matrices (private).

The RS records are sorted and scattered into integer matrices (one row per subject, one column per
assessment, left aligned, padded with ``PAD``). Every rule is then a numpy operation over all subjects at
once; the only Python loops run over assessment columns or column offsets (about a dozen), never over
subjects. Rules are documented in :func:`oligotrial.rules.recist.derive_best_overall_response`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.errors import Problem
from oligotrial.rules._recist_fast import codes_in, segment_starts, small_codes
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
    """:func:`build_matrices` for valid input as numpy passes; ``None`` when any check would fail.

    Text is coded on its distinct values (see :mod:`oligotrial.rules._recist_fast`); one sort of
    (subject, date) orders the assessments, drops repeated identical records and finds two different
    responses on one date.
    """
    if any(c not in rs.columns for c in ("USUBJID", "RSDTC", response_column)):
        return None
    if any(c not in dm.columns for c in ("USUBJID", "RFSTDTC")) or rs.height == 0:
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
    if (subject < 0).any():  # RECIST-023 (and null ids)
        return None
    code = response[response_column].astype(np.int64)
    if ((code < 0) | (code >= len(codes))).any():  # RECIST-021
        return None
    dates = rs.select(as_date(rs, "RSDTC").cast(pl.Int32)).to_series()
    if dates.null_count():  # RECIST-022
        return None
    ref = dm_n["REF"]
    with_responses = np.zeros(dm_n.height, dtype=np.bool_)
    with_responses[subject] = True
    if (ref.is_null().to_numpy() & with_responses).any():  # RECIST-024
        return None
    date = dates.cast(pl.Int64).to_numpy()
    day0 = int(date.min())
    n_days = int(date.max()) - day0 + 1
    if dm_n.height * n_days * len(codes) >= 1 << 62:
        return None
    key = (subject * n_days + (date - day0)) * len(codes) + code
    if not (key[1:] >= key[:-1]).all():  # RS written by the engine is already in this order
        key = np.sort(key)
    keep = np.ones(key.shape[0], dtype=np.bool_)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]  # identical records counted once
    visit_key = key // len(codes)
    if (visit_key[1:] == visit_key[:-1]).any():  # RECIST-026
        return None
    rows = visit_key // n_days
    _, first = segment_starts(rows)
    cols = np.arange(rows.shape[0], dtype=np.int64) - first
    shape = (dm_n.height, int(cols.max()) + 1)
    out_code = np.full(shape, PAD, dtype=np.int64)
    out_date = np.zeros(shape, dtype=np.int64)
    out_day = np.zeros(shape, dtype=np.int64)
    row_date = visit_key % n_days + day0
    out_code[rows, cols] = key % len(codes)
    out_date[rows, cols] = row_date
    out_day[rows, cols] = row_date - ref.fill_null(0).cast(pl.Int64).to_numpy()[rows]
    return Matrices(subjects=names, code=out_code, date=out_date, day=out_day)


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


def confirmed(
    code: IntMatrix,
    date: IntMatrix,
    start: int,
    confirming: tuple[int, ...],
    allowed_between: tuple[int, ...],
    ne: int,
    min_days: int,
    max_ne: int,
) -> BoolMatrix:
    """Which ``start`` assessments are confirmed by a later one, over all subjects at once.

    Assessment i is confirmed when some later j has a code in ``confirming``, is at least ``min_days``
    after i, and every assessment strictly between them has a code in ``allowed_between`` with at most
    ``max_ne`` of them ``ne``.
    """
    n, width = code.shape
    bad = ~_member(code, allowed_between)
    is_ne = code == ne
    # prefix counts: P[:, m] = count over columns < m (narrow integers: fewer bytes to move, same values)
    count_type = np.int16 if width < 2**15 and abs(max_ne) < 2**15 else np.int64
    bad_before = np.zeros((n, width + 1), dtype=count_type)
    ne_before = np.zeros((n, width + 1), dtype=count_type)
    if date.size and int(date.min()) > -(2**30) and int(date.max()) < 2**30 and abs(min_days) < 2**30:
        date = date.astype(np.int32)
    np.cumsum(bad, axis=1, out=bad_before[:, 1:])
    np.cumsum(is_ne, axis=1, out=ne_before[:, 1:])
    is_confirming = _member(code, confirming)
    result = np.zeros((n, width), dtype=np.bool_)
    for k in range(1, width):
        i = slice(0, width - k)
        j = slice(k, width)
        bad_between = bad_before[:, k:width] - bad_before[:, 1 : width - k + 1]
        ne_between = ne_before[:, k:width] - ne_before[:, 1 : width - k + 1]
        ok = (
            is_confirming[:, j]
            & (date[:, j] - date[:, i] >= min_days)
            & (bad_between == 0)
            & (ne_between <= max_ne)
        )
        result[:, i] |= ok
    is_start: BoolMatrix = code == start
    return result & is_start


def _member(code: IntMatrix, values: tuple[int, ...]) -> BoolMatrix:
    """``numpy.isin(code, values)`` for small non-negative codes and ``PAD``, by one table lookup."""
    top = max(int(code.max(initial=0)), *values, 0)
    if top > 255 or min(values, default=0) < 0 or int(code.min(initial=PAD)) < PAD:
        return np.isin(code, values)
    table = np.zeros(top + 2, dtype=np.bool_)  # the last entry answers PAD (-1)
    table[list(values)] = True
    found: BoolMatrix = table[code]
    return found


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
    series = pl.Series("days", days, dtype=pl.Int64)
    return pl.select(pl.when(series >= 0).then(series).cast(pl.Date)).to_series()
