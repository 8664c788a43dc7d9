"""Fast path of the RECIST 1.1 time-point engine: text coded once, then compiled passes (private).

:func:`fast_timepoint_frame` gives exactly the frame of ``timepoint_frame(prepare(tu, tr))`` when the input
is valid, and ``None`` otherwise. Callers then run the reference path (:func:`timepoint_frame` over
:func:`~oligotrial.rules._recist_input.prepare`), which raises the same :class:`InputError` as before with
every problem listed; the fast path never builds a problem itself. It also answers ``None`` for inputs it
does not handle (empty tables, NaN or huge diameters, measured NEW lesions used by iRECIST's new target
lesions, key spaces too large for its lookup tables), so results and errors never depend on which path ran.

How it is fast: each text column is coded to integers once, in polars: compared with its expected values
as written, else cast to ``pl.Categorical`` (a few rows, as one subject's save gives: their distinct values
found by a dict) with only its distinct values stripped and upper-cased (as the reference path does row by
row); TR USUBJID, grouped by subject, is looked up once per run of equal
values. The rows then go through three compiled passes (:mod:`oligotrial.rules._recist_kernels`): every
row-level rule and the sort key in input order; one sort of (subject, date, lesion slot, test) (none
when the rows are already in that order, numpy's run-merging sort when they are a few sorted blocks);
the assessments and their sums in key order; the responses per assessment. Subjects are numbered in
the sort order of USUBJID, so the result comes out sorted by USUBJID and date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.rules._recist_input import (
    ABSENT,
    LDIAM,
    LESION_ROLES,
    LPERP,
    NODE_LOCATION,
    NOT_DONE,
    PRESENT,
    TOO_SMALL,
    TR_COLUMNS,
    TU_COLUMNS,
    TUMSTATE,
    UNEQUIVOCAL,
    as_date,
    prepare,
)
from oligotrial.rules._recist_timepoint import CR, NA, NE, NN, PD, PR, SD, timepoint_frame

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Largest lookup table (entries) the fast path allocates; beyond it the reference path runs.
MAX_TABLE = 1 << 26
#: Below this many sorted runs in the TR key order, numpy's run-merging stable sort beats polars' sort.
FEW_RUNS = 64
#: Up to this many texts (values and reference), :func:`index_in` looks them up in a dict, not by a join.
_FEW_TEXTS = 4096

_TESTS = (LDIAM, LPERP, TUMSTATE)  # codes 0, 1, 2; 3 = anything else
_STATE_CODES = (PRESENT, ABSENT, UNEQUIVOCAL, TOO_SMALL)  # codes 0..3; 4 = null; 5 = other
_T_CODES = (CR, PR, SD, PD, NE, NA)
_NT_CODES = (CR, NN, PD, NE, NA)
_O_CODES = (CR, PR, SD, NN, PD, NE)


def _categorical(series: pl.Series) -> pl.Series:
    # text first, so that every column shares the global categories (an input Categorical may not)
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    return series.cast(pl.Categorical)


def encode_text(series: pl.Series, *, upper: bool) -> tuple[Ints, pl.Series] | None:
    """Row codes into the distinct normalized values (stripped, upper-cased if ``upper``); null is -1.

    Only the distinct raw values are normalized, as the reference path normalizes every row.
    """
    if series.dtype == pl.String and series.len() > 64:
        # runs of equal values (a table sorted or grouped by the column): encode one value per run
        change = series.ne_missing(series.shift(1)).to_numpy()
        change[0] = True
        heads = np.flatnonzero(change)
        if heads.shape[0] * 4 <= series.len():
            encoded = encode_text(series.gather(heads), upper=upper)
            if encoded is None:
                return None
            lengths = np.diff(heads, append=series.len())
            return np.repeat(encoded[0], lengths), encoded[1]
    if series.len() <= _FEW_TEXTS:
        return _encode_few(series, upper=upper)
    cat = _categorical(series)
    uniques = cat.unique().drop_nulls()
    physical = uniques.to_physical().cast(pl.Int64).to_numpy()
    normal = uniques.cast(pl.String).str.strip_chars()
    if upper:
        normal = normal.str.to_uppercase()
    values = normal.unique(maintain_order=True)
    size = int(physical.max()) + 2 if physical.size else 1
    if size > MAX_TABLE:
        return None
    lookup = np.full(size, -1, dtype=np.int64)
    if physical.size:
        lookup[physical] = index_in(normal, values)
    raw = cat.to_physical().cast(pl.Int64).fill_null(size - 1).to_numpy()
    return lookup[raw], values


def _encode_few(series: pl.Series, *, upper: bool) -> tuple[Ints, pl.Series]:
    """:func:`encode_text` of a few rows (one subject's tables, as a form's save derives them): the distinct
    values found in Python, normalized by the same polars expressions; the values come in the order of their
    first row (the codes are only ever read through the values)."""
    rows = (series if series.dtype == pl.String else series.cast(pl.String)).to_list()
    raw: dict[str, int] = {}
    for value in rows:
        if value is not None and value not in raw:
            raw[value] = len(raw)
    normal = pl.Series(series.name, list(raw), dtype=pl.String).str.strip_chars()
    if upper:
        normal = normal.str.to_uppercase()
    position: dict[str, int] = {}
    value_of_raw = [position.setdefault(text, len(position)) for text in normal.to_list()]
    codes = np.fromiter(
        (-1 if value is None else value_of_raw[raw[value]] for value in rows), dtype=np.int64, count=len(rows)
    )
    return codes, pl.Series(series.name, list(position), dtype=pl.String)


def code_runs(series: pl.Series, reference: pl.Series) -> tuple[Ints, Ints] | None:
    """Position of each stripped value in ``reference`` (distinct values), -1 null, -2 absent, by runs.

    Returns the codes of the runs of equal values and the run lengths; a column not in runs (fewer than
    4 rows a run on average) gets one code per row and empty lengths. A column in runs (TR or RS grouped
    by subject) is looked up once per run, by one join of the run values with ``reference``; otherwise
    through :func:`encode_text`.
    """
    if series.dtype == pl.String and series.len() > 64:
        runs = series.rle()  # one (length, value) per run of equal values
        if runs.len() * 4 <= series.len():
            head_values = runs.struct.field("value").str.strip_chars()
            found = np.where(head_values.is_null().to_numpy(), -1, index_in(head_values, reference))
            return found, runs.struct.field("len").cast(pl.Int64).to_numpy()
    encoded = encode_text(series, upper=False)
    if encoded is None:
        return None
    out: Ints = np.append(index_in(encoded[1], reference), -1)[encoded[0]]
    return out, np.zeros(0, dtype=np.int64)


def sorted_codes(series: pl.Series) -> tuple[Ints, pl.Series]:
    """Each row's position among the sorted distinct stripped values (-1 null), and those values.

    A column in runs of equal values (TU grouped by subject) is stripped and looked up once per run.
    """
    lengths = None
    if series.dtype == pl.String and series.len() > 64:
        runs = series.rle()
        if runs.len() * 4 <= series.len():
            values = runs.struct.field("value").str.strip_chars()
            lengths = runs.struct.field("len").to_numpy()
    if lengths is None:
        values = series.cast(pl.String).str.strip_chars()
    names = values.drop_nulls().unique().sort()
    codes = np.where(values.is_null().to_numpy(), -1, index_in(values, names))
    return (np.repeat(codes, lengths) if lengths is not None else codes), names


def codes_in(series: pl.Series, reference: pl.Series) -> Ints | None:
    """:func:`code_runs` with one code per row."""
    runs = code_runs(series, reference)
    if runs is None:
        return None
    codes, lengths = runs
    return np.repeat(codes, lengths) if lengths.shape[0] else codes


def index_in(values: pl.Series, reference: pl.Series) -> Ints:
    """Position of each value in ``reference`` (distinct values), -2 when absent (a null too, as in a join).

    A few texts (one subject's tables, as a form's save derives them) are looked up in a dict: the join's
    fixed cost, about half a millisecond, was half of such a derivation.
    """
    if values.dtype == reference.dtype == pl.String and values.len() + reference.len() <= _FEW_TEXTS:
        position = {value: i for i, value in enumerate(reference.to_list()) if value is not None}
        return np.fromiter(
            (-2 if value is None else position.get(value, -2) for value in values.to_list()),
            dtype=np.int64,
            count=values.len(),
        )
    index = pl.DataFrame({"V": reference}).with_row_index("I")
    found = values.to_frame("V").join(index, on="V", how="left", maintain_order="left")["I"]
    out: Ints = found.cast(pl.Int64).fill_null(-2).to_numpy()
    return out


def small_codes(
    frame: pl.DataFrame, wanted: dict[str, tuple[str, ...]], *, upper: bool = True
) -> dict[str, Ints] | None:
    """Per column, the index of each row's normalized value in its ``wanted`` values.

    Null is -1, a value not wanted is ``len(wanted)`` (-2 for the link ids, absent from TU). Rows are first
    compared with the wanted values as written, in one polars pass over all columns; a column with any
    other value (lower case, spaces, a number in TRSTRESC) is encoded by its distinct values instead.
    """
    other = 127
    exprs = []
    for name, values in wanted.items():
        col = pl.col(name)
        expr: Any = pl.when(col.is_null()).then(pl.lit(-1, pl.Int8))  # a when/then chain
        for i, value in enumerate(values):
            expr = expr.when(col == value).then(pl.lit(i, pl.Int8))
        exprs.append(expr.otherwise(pl.lit(other, pl.Int8)).alias(name))
    text = [n for n in wanted if frame.schema[n] == pl.String]
    quick = frame.select([e for n, e in zip(wanted, exprs, strict=True) if n in text]) if text else None
    out: dict[str, Ints] = {}
    for name, values in wanted.items():
        if quick is not None and name in text:
            codes = quick[name].to_numpy()
            if not (codes == other).any():
                out[name] = codes
                continue
        encoded = encode_text(frame[name], upper=upper)
        if encoded is None:
            return None
        row_codes, distinct = encoded
        table = np.append(index_in(distinct, pl.Series(values, dtype=pl.String)), -1)
        table = np.where(table == -2, len(values), table)
        out[name] = table[row_codes].astype(np.int8 if len(values) < 100 else np.int64)
    return out


def _codes_to_text(codes: npt.NDArray[np.signedinteger[Any]], names: tuple[str, ...]) -> pl.Series:
    """Integer codes (-1 = null) to a String series."""
    table = pl.Series([*names, None], dtype=pl.String)
    return table.gather(np.where(codes < 0, len(names), codes))


def fast_timepoint_frame(tu: pl.DataFrame, tr: pl.DataFrame) -> pl.DataFrame | None:
    """``timepoint_frame(prepare(tu, tr))`` for valid input, else ``None`` (see the module docstring)."""
    if any(c not in tu.columns for c in TU_COLUMNS) or any(c not in tr.columns for c in TR_COLUMNS):
        return None
    if tu.height == 0 or tr.height == 0:
        return None

    # --- lesions (TU): subjects numbered in USUBJID order, link ids, roles, organs ---------------------
    tu_subject, subject_names = sorted_codes(tu["USUBJID"])
    tu_links = encode_text(tu["TULNKID"], upper=False)
    tu_codes = small_codes(tu, {"TUORRES": LESION_ROLES, "TULOC": (NODE_LOCATION, "UNKNOWN")})
    if tu_links is None or tu_codes is None:
        return None
    tu_link, link_names = tu_links
    n_subjects, n_links, n_lesions = len(subject_names), len(link_names), tu.height
    if (tu_subject < 0).any() or (tu_link < 0).any():  # RECIST-017
        return None
    role = tu_codes["TUORRES"].astype(np.int64)  # 0 target, 1 non-target, 2 new
    if ((role < 0) | (role > 2)).any():  # RECIST-003
        return None
    location = tu_codes["TULOC"]
    is_node_l = location == 0
    if n_subjects * n_links > MAX_TABLE:
        return None
    lesion_of = np.full(n_subjects * n_links, -1, dtype=np.int32)
    lesion_key = tu_subject * n_links + tu_link
    lesion_of[lesion_key] = np.arange(n_lesions, dtype=np.int32)
    if not (lesion_of[lesion_key] == np.arange(n_lesions)).all():  # RECIST-002
        return None
    is_target_l = role == 0
    targets_per_subject = np.bincount(tu_subject[is_target_l], minlength=n_subjects)
    if targets_per_subject.max(initial=0) > 5:  # RECIST-009
        return None
    # organ: TULOC, null read as UNKNOWN, all lymph nodes one organ; distinct values of TULOC suffice here
    organ_codes = encode_text(tu["TULOC"], upper=True)
    if organ_codes is None:
        return None
    unknown = organ_codes[1].to_list()
    n_organs = len(unknown) + 1
    null_organ = unknown.index("UNKNOWN") if "UNKNOWN" in unknown else len(unknown)
    organ = np.where(organ_codes[0] < 0, null_organ, organ_codes[0])
    if n_subjects * n_organs > MAX_TABLE:
        return None
    per_organ = np.bincount((tu_subject * n_organs + organ)[is_target_l], minlength=n_subjects * n_organs)
    if per_organ.max(initial=0) > 2:  # RECIST-010
        return None

    # --- results (TR): integer codes per row, then the compiled passes -------------------------------
    from oligotrial.rules import _recist_kernels as kernels  # compiled on first use

    n_rows = tr.height
    subject_runs = code_runs(tr["USUBJID"], subject_names)
    if subject_runs is None:
        return None
    wanted = {"TRLNKID": tuple(link_names.to_list())} if n_links <= 32 else {}
    link_codes = small_codes(tr, wanted, upper=False) if wanted else {}
    if link_codes is None:
        return None
    tr_link: npt.NDArray[np.signedinteger[Any]]
    if "TRLNKID" in link_codes:
        tr_link = link_codes["TRLNKID"]  # n_links: not in TU
    else:
        tr_links = encode_text(tr["TRLNKID"], upper=False)
        if tr_links is None:
            return None
        tr_link = np.append(index_in(tr_links[1], link_names), -1)[tr_links[0]]
    date_series = tr.select(as_date(tr, "TRDTC").cast(pl.Int32)).to_series()
    if date_series.null_count():  # RECIST-006
        return None
    date = date_series.to_numpy()
    small: dict[str, tuple[str, ...]] = {"TRTESTCD": _TESTS}
    for name, values in (("TRSTAT", (NOT_DONE,)), ("TRBLFL", ("Y",))):
        if name in tr.columns:
            small[name] = values
    codes = small_codes(tr, small)
    if codes is None:
        return None
    empty_bools = np.zeros(0, dtype=np.bool_)
    stat = codes["TRSTAT"] if "TRSTAT" in codes else np.full(n_rows, -1, dtype=np.int8)
    flagged = codes["TRBLFL"] == 0 if "TRBLFL" in codes else empty_bools
    text_number, text_number_null = np.zeros(0), empty_bools
    if "TRSTRESC" in tr.columns:
        quick = small_codes(tr, {"TRSTRESC": _STATE_CODES}) if tr.schema["TRSTRESC"] == pl.String else None
        if quick is not None and not (quick["TRSTRESC"] == len(_STATE_CODES)).any():
            state = quick["TRSTRESC"]  # null is -1 here
        else:
            stresc = encode_text(tr["TRSTRESC"], upper=True)
            if stresc is None:
                return None
            stresc_codes, stresc_values = stresc
            index = np.append(index_in(stresc_values, pl.Series(_STATE_CODES)), 4)
            state = np.where(index == -2, 5, index)[stresc_codes].astype(np.int8)
            # a number written in TRSTRESC (used when TRSTRESN is null), parsed on the distinct values only
            parsed = stresc_values.cast(pl.Float64, strict=False)
            text_number = np.append(parsed.fill_null(np.nan).to_numpy(), np.nan)[stresc_codes]
            text_number_null = np.append(parsed.is_null().to_numpy(), True)[stresc_codes]
    else:
        state = np.full(n_rows, 4, dtype=np.int8)
    stresn_text_bad, stresn_text_null = empty_bools, empty_bools
    if "TRSTRESN" in tr.columns:
        column = tr["TRSTRESN"]
        if column.dtype.is_numeric():
            number_series = column.cast(pl.Float64)
        else:
            text = column.cast(pl.String).str.strip_chars()
            number_series = text.cast(pl.Float64, strict=False)
            stresn_text_null = text.is_null().to_numpy()
            stresn_text_bad = ~stresn_text_null & number_series.is_null().to_numpy()
        number_null = number_series.is_null().to_numpy()
        number = number_series.fill_null(0.0).to_numpy()
    else:
        number_null = np.ones(n_rows, dtype=np.bool_)
        number = np.zeros(n_rows)

    # the sort key: ((subject * n_days + date - day0) * n_slots + slot) * 3 + test, lesion part per lesion
    day0 = int(date.min())
    n_days = int(date.max()) - day0 + 1
    lesion_order = np.argsort(tu_subject, kind="stable")
    sorted_subjects = tu_subject[lesion_order]
    slot = np.empty(n_lesions, dtype=np.int64)
    slot[lesion_order] = np.arange(n_lesions) - np.searchsorted(sorted_subjects, sorted_subjects)
    n_slots = int(slot.max()) + 1
    if n_subjects * n_days * n_slots * 3 >= 1 << 62:
        return None
    stride = n_slots * 3
    lesion_part = (tu_subject * n_days - day0) * stride + slot * 3
    # expected test per lesion kind: 0 LDIAM (non-nodal target), 1 LPERP (nodal target), 2 TUMSTATE, 9 any
    expected_l = np.where(role == 0, is_node_l.astype(np.int8), np.where(role == 1, 2, 9)).astype(np.int8)
    role_l = role.astype(np.int8)
    ok, descents, lesion, mm, row_state, key = kernels.check_rows(
        *subject_runs,
        tr_link,
        codes["TRTESTCD"],
        stat,
        state,
        number,
        number_null,
        text_number,
        text_number_null,
        stresn_text_bad,
        stresn_text_null,
        date,
        lesion_of,
        expected_l,
        role_l,
        lesion_part,
        n_links,
        stride,
        text_number.shape[0] > 0,
        stresn_text_bad.shape[0] > 0,
    )
    if not ok:
        return None
    if descents == 0:
        order = np.zeros(0, dtype=np.int64)  # already in key order
    elif descents < FEW_RUNS:  # a few sorted runs: numpy's stable sort (timsort) merges them
        order = np.argsort(key, kind="stable")
    else:
        order = pl.Series(key).arg_sort().cast(pl.Int64).to_numpy()
    visits = kernels.aggregate_visits(
        order, key, lesion, mm, row_state, flagged, role_l, is_node_l, stride, n_days
    )
    if not visits[0]:
        return None
    visit_key, n_measured, sod, any_disease, nt_assessed, nt_up, nt_present = visits[1:8]
    new_present, new_up, new_count = visits[8:]
    visit_subject = visit_key // n_days
    visit_date = visit_key % n_days + day0
    nt_per_subject = np.bincount(tu_subject[role == 1], minlength=n_subjects)
    is_start, complete, baseline_sod, nadir, target, non_target, overall = kernels.visit_responses(
        visit_subject,
        n_measured,
        sod,
        any_disease,
        nt_assessed,
        nt_up,
        nt_present,
        new_present,
        targets_per_subject,
        nt_per_subject,
    )
    has_targets = targets_per_subject[visit_subject] > 0
    nt_up &= nt_per_subject[visit_subject] > 0

    def targets_only(values: npt.NDArray[np.int64] | Bools, dtype: pl.DataType) -> pl.Series:
        series = pl.Series(values, dtype=dtype)
        return series.scatter(np.flatnonzero(~has_targets), None) if not has_targets.all() else series

    return pl.DataFrame(
        {
            "USUBJID": subject_names.gather(visit_subject),
            "DATE": pl.Series(visit_date, dtype=pl.Int32).cast(pl.Date),
            "IS_BASELINE": is_start,
            "TRGRESP": _codes_to_text(target, _T_CODES),
            "SOD_H": targets_only(sod, pl.Int64()),
            "TARGET_COMPLETE": targets_only(complete, pl.Boolean()),
            "BL_H": targets_only(baseline_sod, pl.Int64()),
            "NADIR_H": targets_only(nadir, pl.Int64()),
            "NTRGRESP": _codes_to_text(non_target, _NT_CODES),
            "NT_UP": nt_up,
            "NEWLIND": _codes_to_text(np.where(new_present, 0, 1), ("Y", "N")),
            "NEW_COUNT": pl.Series(new_count, dtype=pl.UInt32),
            "NEWT_SUM_H": pl.Series(np.zeros(visit_key.shape[0], dtype=np.int64)),
            "NEW_NT_UP": new_up,
            "HAS_TARGETS": has_targets,
            "OVRLRESP": _codes_to_text(overall, _O_CODES),
        }
    )


def checked_timepoint_frame(tu: pl.DataFrame, tr: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """The time-point frame, by the fast path when it can, else by the reference path (which raises).

    The flag tells whether the frame is already sorted by USUBJID and date (the fast path sorts it).
    """
    frame = fast_timepoint_frame(tu, tr)
    if frame is not None:
        return frame, True
    return timepoint_frame(prepare(tu, tr)), False
