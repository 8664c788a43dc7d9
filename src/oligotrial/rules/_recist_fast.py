"""Fast path of the RECIST 1.1 time-point engine: checks and rules as numpy passes (private).

:func:`fast_timepoint_frame` gives exactly the frame of ``timepoint_frame(prepare(tu, tr))`` when the input
is valid, and ``None`` otherwise. Callers then run the reference path (:func:`timepoint_frame` over
:func:`~oligotrial.rules._recist_input.prepare`), which raises the same :class:`InputError` as before with
every problem listed; the fast path never builds a problem itself. It also answers ``None`` for inputs it
does not handle (empty tables, NaN or huge diameters, measured NEW lesions used by iRECIST's new target
lesions, key spaces too large for its lookup tables), so results and errors never depend on which path ran.

How it is fast: each text column is cast to ``pl.Categorical`` once and only its distinct values are
stripped and upper-cased, as the reference path does row by row; rows become integer codes. A TR row finds
its TU lesion through a dense (subject, link id) table, its assessment through one dense rank of (subject,
date), and every per-assessment quantity is a ``numpy.bincount`` over assessments. Running minima, counts
and "seen before" flags within a subject are one global numpy accumulation with per-subject offsets.
Subjects are numbered in the sort order of USUBJID, so the result comes out sorted by USUBJID and date.
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
    MAX_MM,
    MEASURABLE_MM,
    MEASURABLE_NODE_MM,
    NODE_LOCATION,
    NORMAL_NODE_MM,
    NOT_DONE,
    PRESENT,
    SCALE,
    TOO_SMALL,
    TOO_SMALL_MM,
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
Floats = npt.NDArray[np.float64]

#: Largest lookup table (entries) the fast path allocates; beyond it the reference path runs.
MAX_TABLE = 1 << 26

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


def codes_in(series: pl.Series, reference: pl.Series) -> Ints | None:
    """Position of each row's stripped value in ``reference`` (distinct values): -1 null, -2 absent.

    A column in runs of equal values (TR or RS grouped by subject) is looked up once per run, by one
    join of the run heads with ``reference``; otherwise through :func:`encode_text`.
    """
    if series.dtype == pl.String and series.len() > 64:
        change = series.ne_missing(series.shift(1)).to_numpy()
        change[0] = True
        heads = np.flatnonzero(change)
        if heads.shape[0] * 4 <= series.len():
            head_values = series.gather(heads).str.strip_chars()
            found = np.where(head_values.is_null().to_numpy(), -1, index_in(head_values, reference))
            return np.repeat(found, np.diff(heads, append=series.len()))
    encoded = encode_text(series, upper=False)
    if encoded is None:
        return None
    out: Ints = np.append(index_in(encoded[1], reference), -1)[encoded[0]]
    return out


def index_in(values: pl.Series, reference: pl.Series) -> Ints:
    """Position of each value in ``reference`` (distinct values), -2 when absent."""
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


def segment_starts(segment: Ints) -> tuple[Bools, Ints]:
    """For rows sorted by segment: is the row the first of its segment, and the index of that first row."""
    n = segment.shape[0]
    start = np.ones(n, dtype=np.bool_)
    start[1:] = segment[1:] != segment[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(n, dtype=np.int64), 0))
    return start, first


def _cumsum_in_segment(values: Ints, first: Ints) -> Ints:
    """Inclusive running sum within segments (rows sorted by segment, ``first`` from segment_starts)."""
    total = np.cumsum(values)
    before_segment = total[first] - values[first]
    out: Ints = total - before_segment
    return out


def _codes_to_text(codes: Ints, names: tuple[str, ...]) -> pl.Series:
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
    tu_subjects = encode_text(tu["USUBJID"], upper=False)
    tu_links = encode_text(tu["TULNKID"], upper=False)
    tu_codes = small_codes(tu, {"TUORRES": LESION_ROLES, "TULOC": (NODE_LOCATION, "UNKNOWN")})
    if tu_subjects is None or tu_links is None or tu_codes is None:
        return None
    subject_names = tu_subjects[1].sort()
    tu_subject = np.append(index_in(tu_subjects[1], subject_names), -1)[tu_subjects[0]]
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

    # --- results (TR): lesion, date, codes -------------------------------------------------------------
    n_rows = tr.height
    tr_subject = codes_in(tr["USUBJID"], subject_names)
    if tr_subject is None:
        return None
    wanted = {"TRLNKID": tuple(link_names.to_list())} if n_links <= 32 else {}
    link_codes = small_codes(tr, wanted, upper=False) if wanted else {}
    if link_codes is None:
        return None
    if "TRLNKID" in link_codes:
        tr_link = link_codes["TRLNKID"].astype(np.int64)
        tr_link[tr_link == n_links] = -2
    else:
        tr_links = encode_text(tr["TRLNKID"], upper=False)
        if tr_links is None:
            return None
        tr_link = np.append(index_in(tr_links[1], link_names), -1)[tr_links[0]]
    if (tr_subject == -1).any() or (tr_link == -1).any():  # RECIST-017
        return None
    if (tr_subject < 0).any() or (tr_link < 0).any():  # RECIST-004 (subject or link id not in TU)
        return None
    lesion = lesion_of[tr_subject * n_links + tr_link]
    if (lesion < 0).any():  # RECIST-004
        return None
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
    test = codes["TRTESTCD"]
    # expected test per lesion kind: 0 LDIAM (non-nodal target), 1 LPERP (nodal target), 2 TUMSTATE, 9 any
    expected_l = np.where(role == 0, is_node_l.astype(np.int8), np.where(role == 1, 2, 9)).astype(np.int8)
    expected = expected_l[lesion]
    test_ok = (test == expected) | ((expected == 9) & (test >= 0) & (test <= 2))
    if not test_ok.all():  # RECIST-005
        return None
    if "TRSTAT" in codes:
        if (codes["TRSTAT"] > 0).any():  # RECIST-008 (TRSTAT)
            return None
        not_done = codes["TRSTAT"] == 0
    else:
        not_done = np.zeros(n_rows, dtype=np.bool_)
    number_c = None
    if "TRSTRESC" in tr.columns:
        quick = small_codes(tr, {"TRSTRESC": _STATE_CODES}) if tr.schema["TRSTRESC"] == pl.String else None
        if quick is not None and not (quick["TRSTRESC"] == len(_STATE_CODES)).any():
            state = np.where(quick["TRSTRESC"] < 0, 4, quick["TRSTRESC"]).astype(np.int8)
        else:
            stresc = encode_text(tr["TRSTRESC"], upper=True)
            if stresc is None:
                return None
            stresc_codes, stresc_values = stresc
            index = np.append(index_in(stresc_values, pl.Series(_STATE_CODES)), 4)
            state = np.where(index == -2, 5, index)[stresc_codes].astype(np.int8)
            # a number written in TRSTRESC (used when TRSTRESN is null), parsed on the distinct values only
            parsed = stresc_values.cast(pl.Float64, strict=False)
            number_c = np.append(parsed.fill_null(np.nan).to_numpy(), np.nan)[stresc_codes]
            number_c_null = np.append(parsed.is_null().to_numpy(), True)[stresc_codes]
    else:
        state = np.full(n_rows, 4, dtype=np.int8)
    text_number_bad = None
    text_number_null = None
    if "TRSTRESN" in tr.columns:
        column = tr["TRSTRESN"]
        if column.dtype.is_numeric():
            number_series = column.cast(pl.Float64)
        else:
            text = column.cast(pl.String).str.strip_chars()
            number_series = text.cast(pl.Float64, strict=False)
            text_number_null = text.is_null().to_numpy()
            text_number_bad = ~text_number_null & number_series.is_null().to_numpy()
        number_null = number_series.is_null().to_numpy()
        number = number_series.fill_null(0.0).to_numpy()
    else:
        number_null = np.ones(n_rows, dtype=np.bool_)
        number = np.zeros(n_rows)
    # MM_FLOAT of the reference path: TRSTRESN, else a number in TRSTRESC, else the TRSTRESC codes
    if number_c is not None:
        use_c = number_null & ~number_c_null
        has_number = ~number_null | use_c
        value = np.where(use_c, number_c, number)
    else:
        has_number = ~number_null
        value = number
    too_small = state == 3
    absent = state == 1
    mm_known = ~not_done & (has_number | too_small | absent)
    mm_float = np.where(has_number, value, 0.0)
    mm_float[too_small & ~has_number] = float(TOO_SMALL_MM)
    known_values = mm_float[mm_known]
    if known_values.size:  # NaN or infinite (min/max carry NaN), or beyond MAX_MM
        low, high = float(known_values.min()), float(known_values.max())
        if not (low >= -MAX_MM and high <= MAX_MM):
            return None
    del known_values
    is_measure = test <= 1
    if text_number_bad is not None and (is_measure & text_number_bad).any():  # RECIST-007 (not a number)
        return None
    mm_rows = is_measure & mm_known
    if (mm_rows & (mm_float < 0)).any():  # RECIST-007 (negative)
        return None
    no_diameter = is_measure & ~mm_known & ~not_done
    if text_number_null is not None:
        no_diameter &= text_number_null
    if no_diameter.any():  # RECIST-008 (no diameter)
        return None
    is_state_test = (test == 2) & ~not_done
    if (is_state_test & (state > 2)).any():  # RECIST-008 (TUMSTATE)
        return None
    # integer hundredths of a mm, rounded exactly as the reference path does
    mm = np.zeros(n_rows, dtype=np.int64)
    mm[mm_rows] = pl.Series(mm_float[mm_rows] * SCALE).round(0).cast(pl.Int64).to_numpy()
    row_state = np.where(is_state_test, state, -1).astype(np.int8)  # 0 present 1 absent 2 unequivocal
    row_role = role.astype(np.int8)[lesion]
    if (mm_rows & (row_role == 2)).any():  # measured NEW lesions: iRECIST new targets, reference path
        return None

    # --- assessments: one per (subject, date), numbered in (USUBJID, date) order ---------------------
    # one sort of (subject, date, lesion slot, test) numbers the assessments and finds duplicates
    day0 = int(date.min())
    n_days = int(date.max()) - day0 + 1
    lesion_order = np.argsort(tu_subject, kind="stable")
    sorted_subjects = tu_subject[lesion_order]
    slot = np.empty(n_lesions, dtype=np.int64)
    slot[lesion_order] = np.arange(n_lesions) - np.searchsorted(sorted_subjects, sorted_subjects)
    n_slots = int(slot.max()) + 1
    if n_subjects * n_days * n_slots * 3 >= 1 << 62:
        return None
    # key = ((subject * n_days + date - day0) * n_slots + slot) * 3 + test, the lesion part precomputed
    stride = n_slots * 3
    lesion_part = (tu_subject * n_days - day0) * stride + slot * 3
    key = lesion_part[lesion]
    step = date.astype(np.int64)
    step *= stride
    key += step
    key += test
    del step
    order = pl.Series(key).arg_sort().to_numpy()
    sorted_key = key[order]
    if (sorted_key[1:] == sorted_key[:-1]).any():  # RECIST-014
        return None
    sorted_visit_key = sorted_key // stride
    new_visit = np.empty(n_rows, dtype=np.bool_)
    new_visit[0] = True
    np.not_equal(sorted_visit_key[1:], sorted_visit_key[:-1], out=new_visit[1:])
    visit = np.empty(n_rows, dtype=np.int32)
    visit[order] = np.cumsum(new_visit, dtype=np.int32) - 1
    keys = sorted_visit_key[new_visit]
    n_visits = keys.shape[0]
    visit_subject = keys // n_days
    visit_date = keys % n_days + day0
    is_start, first = segment_starts(visit_subject)

    # baseline: the assessment flagged TRBLFL = Y, else the first; it must be the first (RECIST-013/016)
    if "TRBLFL" in codes:
        flagged = codes["TRBLFL"] == 0
        if flagged.any():
            flagged_visit = visit[flagged]
            lowest = np.full(n_subjects, n_visits, dtype=np.int64)
            highest = np.full(n_subjects, -1, dtype=np.int64)
            flagged_subject = visit_subject[flagged_visit]
            np.minimum.at(lowest, flagged_subject, flagged_visit)
            np.maximum.at(highest, flagged_subject, flagged_visit)
            has_flag = highest >= 0
            if (lowest[has_flag] != highest[has_flag]).any():  # RECIST-016
                return None
            subject_first = np.full(n_subjects, -1, dtype=np.int64)
            subject_first[visit_subject[is_start]] = np.flatnonzero(is_start)
            if (lowest[has_flag] != subject_first[has_flag]).any():  # RECIST-013
                return None
    at_baseline = is_start[visit]

    # baseline rules: RECIST-011 (targets measurable), RECIST-015 (non-targets present), RECIST-012
    row_is_target = row_role == 0
    baseline_mm = np.full(n_lesions, -1, dtype=np.int64)
    take = at_baseline & row_is_target & mm_rows
    baseline_mm[lesion[take]] = mm[take]
    threshold = np.where(is_node_l, MEASURABLE_NODE_MM * SCALE, MEASURABLE_MM * SCALE)
    if ((baseline_mm < threshold) & is_target_l).any():
        return None
    baseline_state = np.full(n_lesions, -1, dtype=np.int64)
    take = at_baseline & (row_role == 1)
    baseline_state[lesion[take]] = row_state[take]
    if ((baseline_state != 0) & (role == 1)).any():
        return None
    row_is_new = row_role == 2
    new_present_row = row_is_new & ((row_state == 0) | (row_state == 2))
    if (new_present_row & at_baseline).any():
        return None

    # --- targets per assessment ------------------------------------------------------------------------
    has_targets = targets_per_subject[visit_subject] > 0
    measured = row_is_target & mm_rows
    measured_visit = visit[measured]
    measured_mm = mm[measured]
    n_measured = np.bincount(measured_visit, minlength=n_visits)
    sod = np.bincount(measured_visit, weights=measured_mm, minlength=n_visits)
    if sod.max(initial=0) >= 2**52:
        return None
    sod_h = sod.astype(np.int64)
    measured_node = is_node_l[lesion[measured]]
    disease = np.where(measured_node, measured_mm >= NORMAL_NODE_MM * SCALE, measured_mm > 0)
    any_disease = np.bincount(measured_visit[disease], minlength=n_visits) > 0
    complete = n_measured == targets_per_subject[visit_subject]
    is_cr = complete & ~any_disease
    baseline_sod = sod_h[first]
    # nadir: smallest complete SOD before this assessment (baseline included), per subject
    big = int(sod_h.max(initial=0)) + 1
    span = big + 1
    if n_subjects * span >= 1 << 62:
        return None
    offset = visit_subject * span
    running = np.minimum.accumulate(np.where(complete, sod_h, big) - offset) + offset
    nadir = np.empty(n_visits, dtype=np.int64)
    nadir[1:] = running[:-1]
    nadir = np.where(is_start, sod_h, nadir)
    cr_so_far = _cumsum_in_segment(is_cr.astype(np.int64), first)
    had_cr = (cr_so_far - is_cr) > 0
    sum_pd = (5 * sod_h >= 6 * nadir) & (sod_h - nadir >= 5 * SCALE)
    progressed = sum_pd | (had_cr & any_disease)
    t_cr, t_pr, t_sd, t_pd, t_ne, t_na = range(len(_T_CODES))
    target = np.where(
        ~complete,
        np.where(progressed, t_pd, t_ne),
        np.where(
            is_cr, t_cr, np.where(progressed, t_pd, np.where(10 * sod_h <= 7 * baseline_sod, t_pr, t_sd))
        ),
    )
    target = np.where(has_targets, target, t_na)
    target = np.where(is_start, -1, target)

    # --- non-targets per assessment ---------------------------------------------------------------------
    nt_per_subject = np.bincount(tu_subject[role == 1], minlength=n_subjects)
    has_nt = nt_per_subject[visit_subject] > 0
    nt_rows = (row_role == 1) & (row_state >= 0)
    nt_assessed = np.bincount(visit[nt_rows], minlength=n_visits)
    nt_up = np.bincount(visit[nt_rows & (row_state == 2)], minlength=n_visits) > 0
    nt_present = np.bincount(visit[nt_rows & (row_state == 0)], minlength=n_visits) > 0
    nt_missing = nt_per_subject[visit_subject] - nt_assessed
    n_cr, n_nn, n_pd, n_ne, n_na = range(len(_NT_CODES))
    non_target = np.where(nt_up, n_pd, np.where(nt_missing > 0, n_ne, np.where(nt_present, n_nn, n_cr)))
    non_target = np.where(has_nt, non_target, n_na)
    non_target = np.where(is_start, -1, non_target)
    nt_up &= has_nt

    # --- new lesions per assessment ----------------------------------------------------------------------
    new_present = np.bincount(visit[new_present_row], minlength=n_visits) > 0
    new_up = np.bincount(visit[row_is_new & (row_state == 2)], minlength=n_visits) > 0
    first_seen = np.full(n_lesions, n_visits, dtype=np.int64)
    np.minimum.at(first_seen, lesion[new_present_row], visit[new_present_row])
    appearing = np.bincount(first_seen[first_seen < n_visits], minlength=n_visits)
    new_count = _cumsum_in_segment(appearing, first)

    # --- overall response (RECIST 1.1 Tables 1 and 2) --------------------------------------------------
    o_cr, o_pr, o_sd, o_nn, o_pd, o_ne = range(len(_O_CODES))
    table2 = np.where(non_target == n_cr, o_cr, np.where(non_target == n_nn, o_nn, o_ne))
    by_target = np.select(
        [target == t_ne, target == t_cr, target == t_pr, target == t_sd],
        [o_ne, np.where((non_target == n_cr) | (non_target == n_na), o_cr, o_pr), o_pr, o_sd],
        default=-1,
    )
    overall = np.where(
        (target == t_pd) | (non_target == n_pd) | new_present,
        o_pd,
        np.where(target == t_na, table2, by_target),
    )
    overall = np.where(is_start, -1, overall)

    def targets_only(values: npt.NDArray[np.int64] | Bools, dtype: pl.DataType) -> pl.Series:
        series = pl.Series(values, dtype=dtype)
        return series.scatter(np.flatnonzero(~has_targets), None) if not has_targets.all() else series

    return pl.DataFrame(
        {
            "USUBJID": subject_names.gather(visit_subject),
            "DATE": pl.Series(visit_date, dtype=pl.Int32).cast(pl.Date),
            "IS_BASELINE": is_start,
            "TRGRESP": _codes_to_text(target, _T_CODES),
            "SOD_H": targets_only(sod_h, pl.Int64()),
            "TARGET_COMPLETE": targets_only(complete, pl.Boolean()),
            "BL_H": targets_only(baseline_sod, pl.Int64()),
            "NADIR_H": targets_only(nadir, pl.Int64()),
            "NTRGRESP": _codes_to_text(non_target, _NT_CODES),
            "NT_UP": nt_up,
            "NEWLIND": _codes_to_text(np.where(new_present, 0, 1), ("Y", "N")),
            "NEW_COUNT": pl.Series(new_count, dtype=pl.UInt32),
            "NEWT_SUM_H": pl.Series(np.zeros(n_visits, dtype=np.int64)),
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
