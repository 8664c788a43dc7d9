"""Compiled passes of the RECIST 1.1 fast paths (numba; private).

The fast time-point path (:mod:`oligotrial.rules._recist_fast`) codes the TR text columns to integers in
polars, then hands the rows to three kernels: :func:`check_rows` (one pass over the rows in input order:
lesion lookup and every row-level input rule, diameters in hundredths of a mm, the sort key),
:func:`aggregate_visits` (one pass over the rows in key order: assessments, the baseline rules and the
per-assessment sums and flags) and :func:`visit_responses` (one pass over the assessments: baseline, nadir
and the target, non-target and overall responses). For the best overall response
(:mod:`oligotrial.rules._recist_bor`), :func:`assessment_matrices` checks and scatters the RS records (three
kernels over arrays it allocates) and :func:`best_responses` reads each subject's best responses, a CR or
PR confirmed by the scan of :func:`is_confirmed`.

A kernel never builds an error: when a row breaks a rule it answers "not handled" and the caller runs the
polars reference path, which raises the coded problems. The rules are documented, with their sources, in
:func:`oligotrial.rules.recist.derive_timepoint_responses` and
:func:`oligotrial.rules.recist.derive_best_overall_response`; each kernel's Notes name the ones it applies.
Imported on first use of a fast path: loading the compiled cache (or compiling) costs a fraction of a
second that a caller who never runs the engine should not pay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types
from numpy.typing import NDArray

from oligotrial._compiled import kernel
from oligotrial.rules._recist_input import (
    MAX_MM,
    MEASURABLE_MM,
    MEASURABLE_NODE_MM,
    NORMAL_NODE_MM,
    SCALE,
    TOO_SMALL_MM,
)

Ints = NDArray[np.int64]
Ints32 = NDArray[np.int32]
Ints8 = NDArray[np.int8]
#: integer codes of any width (int8 from a literal comparison, int64 from a lookup table)
Codes = NDArray[np.signedinteger[Any]]
Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]


def _array(dtype: types.Type, ndim: int = 1) -> types.Array:
    # read-only in the signatures: a writable array converts to it, a read-only one (a polars buffer)
    # passes as it is, so one compiled version serves both
    return types.Array(dtype, ndim, "C", readonly=True)


_I64, _I32, _I8 = _array(types.int64), _array(types.int32), _array(types.int8)
_F64, _B1 = _array(types.float64), _array(types.boolean)
_INT, _BOOL = types.int64, types.boolean
# explicit signatures: the kernels compile (or load from the cache) once, when this module is imported,
# instead of once per combination of argument types met at run time
_CHECK_ROWS = [
    (
        *(_I64, _I64, link, _I8, _I8, _I8, _F64, _B1, _F64, _B1, _B1, _B1, _I32, _I32, _I8, _I8, _I64),
        *(_INT, _INT, _BOOL, _BOOL),
    )
    for link in (_I8, _I64)  # link ids compared as text (int8) or looked up (int64)
]
_AGGREGATE_VISITS = [(_I64, _I64, _I32, _I64, _I8, _B1, _I8, _B1, _INT, _INT)]
_VISIT_RESPONSES = [(_I64, _I64, _I64, _B1, _I64, _B1, _B1, _B1, _I64, _I64)]
_OUT64, _OUT64_2D = types.Array(types.int64, 1, "C"), types.Array(types.int64, 2, "C")
_VISIT_KEYS = [(_I64, _I32, _I8, _B1, _INT, _INT, _INT, _OUT64)]
_ASSESSMENT_WIDTH = [_INT(_I64, _INT, _INT)]
_SCATTER_ASSESSMENTS = [types.void(_I64, _I32, _INT, _INT, _INT, _OUT64_2D, _OUT64_2D, _OUT64_2D)]

# row codes shared with _recist_fast: tests 0 LDIAM, 1 LPERP, 2 TUMSTATE; states 0 PRESENT, 1 ABSENT,
# 2 UNEQUIVOCAL PROGRESSION, 3 TOO SMALL TO MEASURE, 4 or -1 null, 5 other; roles 0 target, 1 non-target, 2 new;
# expected test 9 = any of the three (NEW lesions)
_ANY_TEST = 9
#: ``row_state`` of a result with a diameter (the other values are the TUMSTATE codes 0-2, or -1)
MEASURED = 3
_TOO_SMALL_MM_F = float(TOO_SMALL_MM)
_NORMAL_NODE_H = NORMAL_NODE_MM * SCALE
_SUM_PD_H = 5 * SCALE
# response codes, index into _recist_fast's _T_CODES, _NT_CODES and _O_CODES
T_CR, T_PR, T_SD, T_PD, T_NE, T_NA = 0, 1, 2, 3, 4, 5
N_CR, N_NN, N_PD, N_NE, N_NA = 0, 1, 2, 3, 4
O_CR, O_PR, O_SD, O_NN, O_PD, O_NE = 0, 1, 2, 3, 4, 5


@kernel(_CHECK_ROWS)
def check_rows(
    subject_code: Ints,
    subject_length: Ints,
    tr_link: Codes,
    test: Codes,
    stat: Codes,
    state: Codes,
    number: Floats,
    number_null: Bools,
    text_number: Floats,
    text_number_null: Bools,
    stresn_text_bad: Bools,
    stresn_text_null: Bools,
    date: Ints32,
    lesion_of: Ints32,
    expected_test: Ints8,
    lesion_role: Ints8,
    lesion_part: Ints,
    n_links: int,
    stride: int,
    use_text_number: bool,
    stresn_is_text: bool,
) -> tuple[bool, int, Ints32, Ints, Ints8, Ints]:
    """Every row-level input rule of TR, in one pass in input order.

    Parameters
    ----------
    subject_code, subject_length
        Subject codes (-1 null, -2 not in TU) of the runs of equal USUBJID and their lengths, or one
        code per row and empty lengths.
    tr_link
        Link-id codes: -1 null, -2 or ``n_links`` and above not in TU.
    test, stat, state
        TRTESTCD, TRSTAT and TRSTRESC codes (see the module constants); ``stat`` is -1 when absent.
    number, number_null
        TRSTRESN as a float (0 where null) and its nulls.
    text_number, text_number_null
        A number written in TRSTRESC (used when TRSTRESN is null), when ``use_text_number``.
    stresn_text_bad, stresn_text_null
        For TRSTRESN given as text (``stresn_is_text``): not a number, and null.
    date
        TRDTC in days since 1970.
    lesion_of
        Lesion row of each (subject, link id) pair, -1 for none.
    expected_test, lesion_role, lesion_part
        Per lesion: the test its results must carry, its role, and its part of the sort key.
    n_links, stride
        Link ids in TU; key units per day.

    Returns
    -------
    ok
        False when some row breaks a rule or is not handled (the reference path then runs).
    descents
        How many times ``key`` decreases from one row to the next: 0 when the rows are in key order,
        small when they are a few sorted runs (for instance one block per lesion or per assessment).
    lesion, mm, row_state, key
        Per row: lesion row, diameter in hundredths of a mm (0 when not measured), the TUMSTATE code
        of an assessed state result or ``MEASURED`` for a diameter (-1 otherwise), and
        ``lesion_part + date * stride + test``.

    Notes
    -----
    Rules (``_recist_input.prepare``; issue 3 "Build" 1): subject and link id present and in TU
    (RECIST-017, RECIST-004); the test matches the lesion (RECIST-005: LDIAM non-nodal target, LPERP nodal
    target, TUMSTATE non-target); TRSTAT empty or NOT DONE (RECIST-008); a diameter is TRSTRESN, else a
    number in TRSTRESC, else 5 mm for TOO SMALL TO MEASURE (RECIST 1.1 appendix I) or 0 for ABSENT; it
    must be finite, at most ``MAX_MM`` (else the reference path reports it) and not negative (RECIST-007);
    a measurement needs a diameter unless NOT DONE (RECIST-008); a TUMSTATE result is PRESENT, ABSENT or
    UNEQUIVOCAL PROGRESSION (RECIST-008). A measured NEW lesion (iRECIST new target) is left to the
    reference path. Diameters are rounded half to even to hundredths, as polars ``round(0)`` does.
    """
    per_row = subject_length.shape[0] == 0
    n = subject_code.shape[0] if per_row else int(subject_length.sum())
    lesion = np.empty(n, dtype=np.int32)
    mm = np.zeros(n, dtype=np.int64)
    row_state = np.full(n, -1, dtype=np.int8)
    key = np.empty(n, dtype=np.int64)
    descents = 0
    run = -1
    left = 0
    s = np.int64(-1)
    for r in range(n):
        if per_row:
            s = subject_code[r]
        else:
            while left == 0:
                run += 1
                left = subject_length[run]
                s = subject_code[run]
            left -= 1
        link = np.int64(tr_link[r])
        if s < 0 or link < 0 or link >= n_links:
            return False, 0, lesion, mm, row_state, key
        les = lesion_of[s * n_links + link]
        if les < 0:
            return False, 0, lesion, mm, row_state, key
        t = test[r]
        expected = expected_test[les]
        if not (t == expected or (expected == _ANY_TEST and 0 <= t <= 2)):
            return False, 0, lesion, mm, row_state, key
        if stat[r] > 0:
            return False, 0, lesion, mm, row_state, key
        not_done = stat[r] == 0
        if use_text_number and number_null[r] and not text_number_null[r]:
            has_number = True
            value = text_number[r]
        else:
            has_number = not number_null[r]
            value = number[r]
        code = state[r]
        mm_known = not not_done and (has_number or code == 3 or code == 1)
        if not has_number:
            value = _TOO_SMALL_MM_F if code == 3 else 0.0
        if mm_known and not (value >= -MAX_MM and value <= MAX_MM):  # NaN fails both
            return False, 0, lesion, mm, row_state, key
        is_measure = t <= 1
        if is_measure:
            if stresn_is_text and stresn_text_bad[r]:
                return False, 0, lesion, mm, row_state, key
            if mm_known:
                if value < 0:
                    return False, 0, lesion, mm, row_state, key
                if lesion_role[les] == 2:  # iRECIST new target: the reference path
                    return False, 0, lesion, mm, row_state, key
                mm[r] = np.int64(np.rint(value * SCALE))
                row_state[r] = MEASURED
            elif not not_done and (not stresn_is_text or stresn_text_null[r]):
                return False, 0, lesion, mm, row_state, key
        elif t == 2 and not not_done:
            if code < 0 or code > 2:
                return False, 0, lesion, mm, row_state, key
            row_state[r] = code
        lesion[r] = les
        k = lesion_part[les] + np.int64(date[r]) * stride + t
        key[r] = k
        if r and k < key[r - 1]:
            descents += 1
    return True, descents, lesion, mm, row_state, key


@kernel(_AGGREGATE_VISITS)
def aggregate_visits(
    order: Ints,
    key: Ints,
    lesion: Ints32,
    mm: Ints,
    row_state: Ints8,
    flagged: Bools,
    lesion_role: Ints8,
    lesion_node: Bools,
    stride: int,
    n_days: int,
) -> tuple[bool, Ints, Ints, Ints, Bools, Ints, Bools, Bools, Bools, Bools, Ints]:
    """Assessments and their per-assessment sums, in one pass over the rows in key order.

    Parameters
    ----------
    order
        Row positions in increasing ``key`` order (empty when the rows are already in that order).
    key, lesion, mm, row_state
        From :func:`check_rows`.
    flagged
        TRBLFL = Y per row (empty when TRBLFL is absent).
    lesion_role, lesion_node
        Per lesion: role, and whether it is a lymph node.
    stride, n_days
        Key units per day; days spanned by the dates (the assessment key is ``key // stride``).

    Returns
    -------
    ok
        False when a rule is broken (the reference path then runs).
    visit_key
        Per assessment ``subject * n_days + date - first date``, increasing.
    n_measured, sod
        Measured targets and their sum (hundredths of a mm).
    any_disease
        Some measured target still counts as disease (node >= 10 mm, other > 0 mm).
    nt_assessed
        Non-targets with an assessed state.
    nt_up, nt_present, new_present, new_up
        Some non-target in UNEQUIVOCAL PROGRESSION / PRESENT; some NEW lesion PRESENT or UNEQUIVOCAL
        PROGRESSION / in UNEQUIVOCAL PROGRESSION.
    new_count
        NEW lesions seen present so far in the subject, this assessment included.

    Notes
    -----
    An assessment is all results of a subject on one date, the earliest being the baseline (issue 3
    "Build" 1). Rules: one result per lesion, test and date (RECIST-014); TRBLFL = Y only on the first
    assessment (RECIST-013, RECIST-016); at baseline every target measured and measurable, >= 10 mm or a
    node >= 15 mm short axis (RECIST 1.1 section 3.1.1; RECIST-011), every non-target PRESENT
    (RECIST-015) and no NEW lesion present (RECIST-012). CR needs every node < 10 mm and every other
    target at 0 mm (RECIST 1.1 section 4.3.1).
    """
    n = key.shape[0]
    sorted_input = order.shape[0] == 0
    n_lesions = lesion_role.shape[0]
    # at most one assessment per row: outputs of that size, each entry set when its assessment opens;
    # the views returned cover the assessments only (the untouched rest is never paged in)
    visit_key = np.empty(n, dtype=np.int64)
    n_measured = np.empty(n, dtype=np.int64)
    sod = np.empty(n, dtype=np.int64)
    any_disease = np.empty(n, dtype=np.bool_)
    nt_assessed = np.empty(n, dtype=np.int64)
    nt_up = np.empty(n, dtype=np.bool_)
    nt_present = np.empty(n, dtype=np.bool_)
    new_present = np.empty(n, dtype=np.bool_)
    new_up = np.empty(n, dtype=np.bool_)
    new_count = np.empty(n, dtype=np.int64)
    baseline_mm = np.full(n_lesions, -1, dtype=np.int64)
    baseline_state = np.full(n_lesions, -1, dtype=np.int8)
    seen = np.zeros(n_lesions, dtype=np.bool_)
    has_flags = flagged.shape[0] > 0
    ok = True
    v = -1
    subject = np.int64(-1)
    at_baseline = False
    previous = np.int64(-1)
    next_visit = np.int64(0)  # the first key of the next assessment (keys increase)
    for i in range(n):
        r = i if sorted_input else order[i]
        k = key[r]
        if i and k == previous:  # RECIST-014
            ok = False
            break
        previous = k
        if v < 0 or k >= next_visit:
            vk = k // stride
            next_visit = (vk + 1) * stride
            v += 1
            visit_key[v] = vk
            at_baseline = vk // n_days != subject
            subject = vk // n_days
            new_count[v] = 0 if at_baseline else new_count[v - 1]
            n_measured[v] = 0
            sod[v] = 0
            nt_assessed[v] = 0
            any_disease[v] = nt_up[v] = nt_present[v] = new_present[v] = new_up[v] = False
        if has_flags and flagged[r] and not at_baseline:  # RECIST-013 / RECIST-016
            ok = False
            break
        les = lesion[r]
        role = lesion_role[les]
        if role == 0:
            if row_state[r] == MEASURED:
                value = mm[r]
                n_measured[v] += 1
                sod[v] += value
                if (value >= _NORMAL_NODE_H) if lesion_node[les] else (value > 0):
                    any_disease[v] = True
                if at_baseline:
                    baseline_mm[les] = value
        elif role == 1:
            code = row_state[r]
            if code >= 0:
                nt_assessed[v] += 1
                if code == 2:
                    nt_up[v] = True
                elif code == 0:
                    nt_present[v] = True
                if at_baseline:
                    baseline_state[les] = code
        else:
            code = row_state[r]
            if code == 0 or code == 2:
                if at_baseline:  # RECIST-012
                    ok = False
                    break
                new_present[v] = True
                if not seen[les]:
                    seen[les] = True
                    new_count[v] += 1
            if code == 2:
                new_up[v] = True
    if ok:
        for les in range(n_lesions):
            role = lesion_role[les]
            if role == 0:  # RECIST-011
                threshold = (MEASURABLE_NODE_MM if lesion_node[les] else MEASURABLE_MM) * SCALE
                if baseline_mm[les] < threshold:
                    ok = False
                    break
            elif role == 1 and baseline_state[les] != 0:  # RECIST-015
                ok = False
                break
    m = v + 1
    return (
        ok,
        visit_key[:m],
        n_measured[:m],
        sod[:m],
        any_disease[:m],
        nt_assessed[:m],
        nt_up[:m],
        nt_present[:m],
        new_present[:m],
        new_up[:m],
        new_count[:m],
    )


@kernel(_VISIT_RESPONSES)
def visit_responses(
    visit_subject: Ints,
    n_measured: Ints,
    sod: Ints,
    any_disease: Bools,
    nt_assessed: Ints,
    nt_up: Bools,
    nt_present: Bools,
    new_present: Bools,
    targets_per_subject: Ints,
    nt_per_subject: Ints,
) -> tuple[Bools, Bools, Ints, Ints, Ints8, Ints8, Ints8]:
    """Baseline, nadir and the RECIST 1.1 responses of every assessment, in one pass in (subject, date) order.

    Parameters
    ----------
    visit_subject
        Subject of each assessment (non-decreasing).
    n_measured, sod, any_disease, nt_assessed, nt_up, nt_present, new_present
        From :func:`aggregate_visits`.
    targets_per_subject, nt_per_subject
        Target and non-target lesions of each subject in TU.

    Returns
    -------
    is_start
        The assessment is the subject's baseline.
    complete
        Every target of the subject was measured.
    baseline, nadir
        Baseline SOD, and the smallest complete SOD before the assessment (the baseline's own SOD at
        baseline), hundredths of a mm.
    target, non_target, overall
        Response codes (``T_*``, ``N_*``, ``O_*``); -1 at baseline.

    Notes
    -----
    RECIST 1.1 section 4.3.1 (targets): NA without targets; when some target is missing, PD if what was
    measured already shows PD, else NE; CR when every target is gone (nodes < 10 mm); PD when the SOD is
    >= 20 % and >= 5 mm above the nadir, or when disease reappears after a CR; PR when >= 30 % below
    baseline; SD otherwise. Section 4.3.2 (non-targets): PD on UNEQUIVOCAL PROGRESSION, NE when one is not
    assessed, NON-CR/NON-PD when one is PRESENT, else CR. Overall: Table 1 (targets), Table 2 (non-targets
    only); a NEW lesion is PD. Integer comparisons (``5 * sod >= 6 * nadir``, ``10 * sod <= 7 * baseline``)
    keep exactly -30.0 % a PR and exactly +20 % a PD.
    """
    n = visit_subject.shape[0]
    is_start = np.zeros(n, dtype=np.bool_)
    complete = np.zeros(n, dtype=np.bool_)
    baseline = np.zeros(n, dtype=np.int64)
    nadir = np.zeros(n, dtype=np.int64)
    target = np.full(n, -1, dtype=np.int8)
    non_target = np.full(n, -1, dtype=np.int8)
    overall = np.full(n, -1, dtype=np.int8)
    big = np.int64(1)  # above every SOD: the running minimum before any complete assessment
    for v in range(n):
        if sod[v] >= big:
            big = sod[v] + 1
    running = big
    had_cr = False
    for v in range(n):
        s = visit_subject[v]
        start = v == 0 or visit_subject[v - 1] != s
        done = n_measured[v] == targets_per_subject[s]
        is_cr = done and not any_disease[v]
        complete[v] = done
        is_start[v] = start
        if start:
            baseline[v] = sod[v]
            nadir[v] = sod[v]
            running = sod[v] if done and sod[v] < big else big
            had_cr = is_cr
            continue
        baseline[v] = baseline[v - 1]
        nadir[v] = running
        if done and sod[v] < running:
            running = sod[v]
        progressed = (5 * sod[v] >= 6 * nadir[v] and sod[v] - nadir[v] >= _SUM_PD_H) or (
            had_cr and any_disease[v]
        )
        if is_cr:
            had_cr = True
        if targets_per_subject[s] == 0:
            t = T_NA
        elif not done:
            t = T_PD if progressed else T_NE
        elif is_cr:
            t = T_CR
        elif progressed:
            t = T_PD
        elif 10 * sod[v] <= 7 * baseline[v]:
            t = T_PR
        else:
            t = T_SD
        if nt_per_subject[s] == 0:
            nt = N_NA
        elif nt_up[v]:
            nt = N_PD
        elif nt_per_subject[s] > nt_assessed[v]:
            nt = N_NE
        elif nt_present[v]:
            nt = N_NN
        else:
            nt = N_CR
        if t == T_PD or nt == N_PD or new_present[v]:
            o = O_PD
        elif t == T_NA:
            o = O_CR if nt == N_CR else (O_NN if nt == N_NN else O_NE)
        elif t == T_NE:
            o = O_NE
        elif t == T_CR:
            o = O_PR if N_NN <= nt <= N_NE else O_CR  # CR with non-targets CR or NA
        elif t == T_PR:
            o = O_PR
        else:
            o = O_SD
        target[v] = t
        non_target[v] = nt
        overall[v] = o
    return is_start, complete, baseline, nadir, target, non_target, overall


@kernel()
def is_confirmed(
    code: Ints,
    date: Ints,
    i: int,
    length: int,
    confirming: Bools,
    allowed_between: Bools,
    ne: int,
    min_days: int,
    max_ne: int,
) -> bool:
    """Whether assessment ``i`` of one subject (codes and dates of its first ``length`` assessments,
    ``PAD`` = -1 ends them) is confirmed by a later one.

    ``confirming`` and ``allowed_between`` are lookup tables by code: the codes that confirm, and the codes
    allowed strictly between; ``ne`` is the NE code, ``min_days`` the least days to the confirming
    assessment and ``max_ne`` the most NE allowed between.

    Notes
    -----
    RECIST 1.1 section 4.4.1 and Table 3 (PROTOCOL.md section 6): a CR is confirmed by a later CR, a PR by
    a later CR or PR, at least ``min_days`` later, with only allowed codes (CR/PR/NE; CR/NE for a CR)
    and at most ``max_ne`` NE between. The scan stops at the first code not allowed between, or when the
    NE allowance is exceeded: no later assessment can confirm past it.
    """
    n_ne = 0
    for j in range(i + 1, length):
        c = code[j]
        if c < 0:
            return False
        if confirming[c] and date[j] - date[i] >= min_days:
            return True
        if not allowed_between[c]:
            return False
        if c == ne:
            n_ne += 1
            if n_ne > max_ne:
                return False
    return False


def assessment_matrices(
    subject: Ints,
    date: Ints32,
    code: Codes,
    ref: Ints32,
    ref_null: Bools,
    n_codes: int,
    day0: int,
    n_days: int,
) -> tuple[bool, Ints, Ints, Ints]:
    """RS records scattered into subjects x assessments matrices (codes, dates, days from reference).

    Parameters
    ----------
    subject
        DM row of each record (-1 null, -2 not in DM).
    date, code
        RSDTC (days since 1970) and the response code of each record.
    ref, ref_null
        Per DM subject: RFSTDTC (days since 1970) and whether it is missing.
    n_codes, day0, n_days
        Number of response codes; first date and days spanned by the dates.

    Returns
    -------
    ok
        False when a check fails (the reference path then runs and raises).
    code, date, day
        ``(subjects, width)`` matrices, left aligned in date order, padded with -1 codes and 0 dates.

    Notes
    -----
    Checks (``_recist_bor.checked_matrices``): every subject in DM (RECIST-023), every code known
    (RECIST-021), a reference date for every subject with responses (RECIST-024), at most one response
    per subject and date once identical records are counted once (RECIST-026). Three compiled passes
    (:func:`visit_keys`, :func:`assessment_width`, :func:`scatter_assessments`) over arrays allocated
    here by numpy: numpy asks the kernel for transparent huge pages for large arrays (4 MiB and more),
    which an allocation inside a kernel does not, so the matrices cost a few page faults instead of one
    per 4 KiB page.
    """
    none = np.zeros((0, 0), dtype=np.int64)  # the matrices when a check fails
    key = np.empty(subject.shape[0], dtype=np.int64)
    ok, in_order = visit_keys(subject, date, code, ref_null, n_codes, day0, n_days, key)
    if not ok:
        return False, none, none, none
    if not in_order:  # RS written by the engine is already in this order
        key.sort()
    width = assessment_width(key, n_codes, n_days)
    if width < 0:
        return False, none, none, none
    shape = (ref.shape[0], width)
    out_code = np.empty(shape, dtype=np.int64)
    out_date = np.empty(shape, dtype=np.int64)
    out_day = np.empty(shape, dtype=np.int64)
    scatter_assessments(key, ref, n_codes, day0, n_days, out_code, out_date, out_day)
    return True, out_code, out_date, out_day


@kernel(_VISIT_KEYS)
def visit_keys(
    subject: Ints,
    date: Ints32,
    code: Codes,
    ref_null: Bools,
    n_codes: int,
    day0: int,
    n_days: int,
    key: Ints,
) -> tuple[bool, bool]:
    """Each record's key ``(subject, date, code)`` packed in ``key``; returns whether the record-level
    checks pass and whether the keys are already in ascending order.

    Notes
    -----
    The record-level checks of :func:`assessment_matrices`: a subject in DM (RECIST-023) with a reference
    date (RECIST-024) and a known code (RECIST-021).
    """
    in_order = True
    for r in range(subject.shape[0]):
        s = subject[r]
        c = np.int64(code[r])
        if s < 0 or c < 0 or c >= n_codes or ref_null[s]:
            return False, False
        key[r] = (s * n_days + (date[r] - day0)) * n_codes + c
        if r and key[r] < key[r - 1]:
            in_order = False
    return True, in_order


@kernel(_ASSESSMENT_WIDTH)
def assessment_width(key: Ints, n_codes: int, n_days: int) -> int:
    """The most assessments of one subject in the sorted ``key`` (identical records counted once), or -1
    when a subject has two different responses on one date (RECIST-026)."""
    width = 0
    count = 0
    previous_visit = np.int64(-1)
    previous_subject = np.int64(-1)
    for i in range(key.shape[0]):
        if i and key[i] == key[i - 1]:
            continue
        visit = key[i] // n_codes
        if visit == previous_visit:  # RECIST-026
            return -1
        s = visit // n_days
        count = count + 1 if s == previous_subject else 1
        width = max(width, count)
        previous_visit = visit
        previous_subject = s
    return width


@kernel(_SCATTER_ASSESSMENTS)
def scatter_assessments(
    key: Ints,
    ref: Ints32,
    n_codes: int,
    day0: int,
    n_days: int,
    out_code: Ints,
    out_date: Ints,
    out_day: Ints,
) -> None:
    """The sorted records of ``key`` written left aligned into the matrices (identical records once):
    code, date and days from the subject's reference date; the rest of each row -1 codes and 0 dates.

    Notes
    -----
    The matrices of :func:`assessment_matrices` (RECIST 1.1 section 4.4: a subject's assessments in date
    order), after its checks.
    """
    out_code[:, :] = -1
    out_date[:, :] = 0
    out_day[:, :] = 0
    column = 0
    previous_subject = np.int64(-1)
    for i in range(key.shape[0]):
        if i and key[i] == key[i - 1]:
            continue
        visit = key[i] // n_codes
        s = visit // n_days
        column = column + 1 if s == previous_subject else 0
        previous_subject = s
        day = visit % n_days + day0
        out_code[s, column] = key[i] % n_codes
        out_date[s, column] = day
        out_day[s, column] = day - ref[s]


_BEST_RESPONSES = [(_array(types.int64, 2), _array(types.int64, 2), _array(types.int64, 2), _INT, _INT, _INT)]
# the RECIST codes of rules._recist_bor.RESPONSE_CODES order: CR, PR, SD, NON-CR/NON-PD, PD, NE
_CR, _PR, _SD, _NN, _PD, _NE = range(6)


@kernel(_BEST_RESPONSES)
def best_responses(
    code: Ints, date: Ints, day: Ints, confirmation_min_days: int, max_ne: int, sd_min_days: int
) -> tuple[Ints, Ints, Ints, Ints, Ints]:
    """Unconfirmed and confirmed best overall response of every subject, in one pass per row.

    Parameters
    ----------
    code, date, day
        ``(subjects, width)`` matrices of :func:`assessment_matrices`: codes 0-5 (CR, PR, SD,
        NON-CR/NON-PD, PD, NE; -1 after the last assessment), dates and days from the reference date.
    confirmation_min_days, max_ne, sd_min_days
        The confirmation interval, the most NE allowed between a response and its confirmation, the SD
        minimum.

    Returns
    -------
    bor, bor_date, cbor, cbor_date, response_date
        Per subject: the best code (-1 without assessments) and the date of its first occurrence, for the
        unconfirmed and the confirmed reading, and the date of the first confirmed CR or PR (dates -1 when
        none).

    Notes
    -----
    The rules of :func:`oligotrial.rules.recist.derive_best_overall_response` (RECIST 1.1 section 4.4 and
    Table 3; PROTOCOL.md section 6), in its order: a PR, SD or NON-CR/NON-PD after a CR is PD; nothing
    after the first PD counts; SD and NON-CR/NON-PD before the SD minimum are NE; a CR is confirmed by a
    later CR, a PR by a later CR or PR, at least the interval later with only CR/NE (CR/PR/NE for a PR)
    and at most ``max_ne`` NE between (the scan of :func:`is_confirmed`); an unconfirmed CR or PR
    is SD once the SD minimum is met, else NE; the best code is the lowest (CR first), dated by its
    first occurrence.
    """
    n, width = code.shape
    bor = np.full(n, -1, dtype=np.int64)
    cbor = np.full(n, -1, dtype=np.int64)
    bor_date = np.full(n, -1, dtype=np.int64)
    cbor_date = np.full(n, -1, dtype=np.int64)
    response_date = np.full(n, -1, dtype=np.int64)
    row_code = np.empty(width, dtype=np.int64)
    confirms_cr = np.zeros(6, dtype=np.bool_)
    confirms_cr[_CR] = True
    confirms_pr = confirms_cr.copy()
    confirms_pr[_PR] = True
    between_cr = confirms_cr.copy()
    between_cr[_NE] = True
    between_pr = confirms_pr.copy()
    between_pr[_NE] = True
    for row in range(n):
        # a PR, SD or NON-CR/NON-PD after a CR is PD; the row ends at its first PD (kept)
        seen_cr = False
        length = 0
        for i in range(width):
            c = code[row, i]
            if c < 0:
                break
            if seen_cr and c in (_PR, _SD, _NN):
                c = _PD
            if c == _CR:
                seen_cr = True
            row_code[i] = c
            length = i + 1
            if c == _PD:
                break
        for i in range(length):
            c = row_code[i]
            sd_met = day[row, i] >= sd_min_days
            unconfirmed = _NE if c in (_SD, _NN) and not sd_met else c
            confirmed = unconfirmed
            if c in (_CR, _PR):
                # a CR is confirmed by a CR with CR/NE between; a PR by a CR or PR with CR/PR/NE between
                confirming = confirms_pr if c == _PR else confirms_cr
                between = between_pr if c == _PR else between_cr
                if is_confirmed(
                    row_code, date[row], i, length, confirming, between, _NE, confirmation_min_days, max_ne
                ):
                    if response_date[row] < 0:
                        response_date[row] = date[row, i]
                else:
                    confirmed = _SD if sd_met else _NE
            if bor[row] < 0 or unconfirmed < bor[row]:
                bor[row] = unconfirmed
                bor_date[row] = date[row, i]
            if cbor[row] < 0 or confirmed < cbor[row]:
                cbor[row] = confirmed
                cbor_date[row] = date[row, i]
    return bor, bor_date, cbor, cbor_date, response_date
