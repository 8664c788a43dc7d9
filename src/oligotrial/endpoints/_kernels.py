"""Compiled per-subject scans of the endpoint derivations (numba; private).

Imported on first use: loading the compiled cache (or compiling) costs a fraction of a second that a caller
who never derives ADaM should not pay. The typed entry points are
:func:`oligotrial.endpoints.adtte.assessment_rows` and ``adtte._derive_parameter`` (:func:`decide_outcomes`;
the rules are documented in :func:`oligotrial.endpoints.adtte.derive_adtte`), :func:`extremes_at` (per-subject
first and last values),
``oligotrial.endpoints.adrs._matches`` (:func:`match_runs`) and ``adrs._record_order`` (:func:`merge_by_rank`).
"""

from __future__ import annotations

import numpy as np
from numba import types
from numpy.typing import NDArray

from oligotrial._compiled import kernel

Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

#: A day after every date (days since 1970): "no event", "no death".
NEVER = np.iinfo(np.int64).max
#: A day before every date: "no new therapy", "no assessment date".
BEFORE_ALL = np.iinfo(np.int64).min


_I64 = types.Array(types.int64, 1, "C")
_I64_IN = types.Array(types.int64, 1, "C", readonly=True)
_EXTREMES = [types.void(_I64, _I64_IN, _I64_IN, types.boolean)]


@kernel(_EXTREMES)
def scatter_extremes(found: Ints, rows: Ints, values: Ints, lowest: bool) -> None:
    """``found[rows[i]] = min(found[rows[i]], values[i])`` for every ``i`` with ``rows[i] >= 0`` (max when
    not ``lowest``): ``numpy.minimum.at`` / ``numpy.maximum.at`` of the records with a subject, in one pass.

    Parameters
    ----------
    found
        Per subject, the running extreme (updated in place; its initial value is kept where no record has
        a lower, or higher, value).
    rows, values
        Per record, its subject (an index into ``found``; negative: none, the record is skipped) and its
        value.

    Notes
    -----
    The per-subject first and last dates of ADSL (SDTMIG 3.4 / ADaMIG: RANDDT, TRTSDT, TRTEDT and the
    like), the first tumour result and the first dose after radiotherapy are such extremes.
    """
    for record in range(rows.shape[0]):
        row = rows[record]
        if row < 0:
            continue
        value = values[record]
        if (value < found[row]) if lowest else (value > found[row]):
            found[row] = value


def extremes_at(found: Ints, rows: NDArray[np.integer], values: NDArray[np.number], *, lowest: bool) -> None:
    """``numpy.minimum.at(found, rows, values)`` (``numpy.maximum.at`` when not ``lowest``) over the records
    with a subject (``rows >= 0``) by :func:`scatter_extremes`; ``values`` are whole numbers (days), given
    as any numeric array."""
    scatter_extremes(
        found,
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(values, dtype=np.int64),
        lowest,
    )


_MATCH_RUNS = [types.void(_I64_IN, _I64_IN, types.Array(types.boolean, 1, "C", readonly=True), _I64, _I64)]


@kernel(_MATCH_RUNS)
def match_runs(ordered: Ints, query: Ints, wanted: Bools, low: Ints, count: Ints) -> None:
    """For each query, the first entry of the sorted ``ordered`` equal to it and how many are equal.

    Parameters
    ----------
    ordered
        Keys in ascending order.
    query, wanted
        The keys looked for, and which of them are looked for at all.
    low, count
        Filled per query: the position of its first equal entry (-1 when none, or not wanted) and the
        number of equal entries (0 when none, or not wanted).

    Notes
    -----
    ``numpy.searchsorted`` on both sides in one pass, without its temporaries: ADRS finds the assessment
    behind each subject-level date (RECIST 1.1 section 4.4: the date of the assessment that decided the
    best response) among the subjects' overall responses sorted by (subject, parameter, date).
    """
    n = ordered.shape[0]
    previous = -1  # where the last search ended (the first entry not below ``searched``)
    searched = np.int64(0)
    for i in range(query.shape[0]):
        low[i] = -1
        count[i] = 0
        if not wanted[i]:
            continue
        key = query[i]
        first, last = 0, n
        if previous >= 0 and key >= searched:
            # queries in ascending order (the usual case): gallop forward from the previous position,
            # so that the searches walk through ``ordered`` once instead of jumping across it
            first = previous
            step = 1
            while first + step < n and ordered[first + step] < key:
                first += step
                step *= 2
            last = min(first + step + 1, n)
        while first < last:
            middle = (first + last) >> 1
            if ordered[middle] < key:
                first = middle + 1
            else:
                last = middle
        previous = first
        searched = key
        if first == n or ordered[first] != key:
            continue
        end = first + 1
        if end < n and ordered[end] == key:  # a repeated key: the end of its run by a second search
            last = n
            while end < last:
                middle = (end + last) >> 1
                if ordered[middle] <= key:
                    end = middle + 1
                else:
                    last = middle
        low[i] = first
        count[i] = end - first


_MERGE_BY_RANK = [types.boolean(_I64_IN, _I64_IN, _I64_IN, _I64_IN, _I64)]


@kernel(_MERGE_BY_RANK)
def merge_by_rank(first_order: Ints, first_rank: Ints, rank: Ints, heads: Ints, order: Ints) -> bool:
    """The stable order of records by (subject's rank, part) when each part is already in rank order.

    Parameters
    ----------
    first_order, first_rank
        The first part: its records' order (by rank, then whatever else sorts them) and each record's rank
        (indexed by record, not by place in ``first_order``).
    rank, heads
        The other parts' records, concatenated: each one's rank, and where each part begins (the last entry
        is the number of records).
    order
        Filled: the records by rank, each rank's records part by part (in ``first_order`` for the first
        part, in their own order for the others); an index is a record of the first part, or the number
        of first-part records plus a record's place in ``rank``.

    Returns
    -------
    bool
        False (``order`` unusable) when some part after the first is not in ascending rank order.

    Notes
    -----
    ADRS's records are sorted by subject, then parameter (OVR, BOR, CBOR, CRSP, CB), then date, ties in
    input order; its subject-level parameters have their dates fixed per subject, so when they come in
    subject order a merge gives the stable sort's order without sorting (ADaMIG: ADRS sorted by its keys).
    """
    parts = heads.shape[0] - 1
    for part in range(parts):
        for i in range(heads[part] + 1, heads[part + 1]):
            if rank[i] < rank[i - 1]:
                return False
    at = heads[:-1].copy()
    n_first = first_order.shape[0]
    j = 0
    k = 0
    largest = np.iinfo(np.int64).max
    while True:
        current = first_rank[first_order[j]] if j < n_first else largest
        for part in range(parts):
            if at[part] < heads[part + 1] and rank[at[part]] < current:
                current = rank[at[part]]
        if current == largest:
            break
        while j < n_first and first_rank[first_order[j]] == current:
            order[k] = first_order[j]
            k += 1
            j += 1
        for part in range(parts):
            while at[part] < heads[part + 1] and rank[at[part]] == current:
                order[k] = n_first + at[part]
                k += 1
                at[part] += 1
    return True


@kernel()
def scan_assessments(
    heads: Ints,
    owner: Ints,
    date: Ints,
    is_pd: Bools,
    adequate: Bools,
    origin: Ints,
    death: Ints,
    nat: Ints,
    progression: bool,
) -> Ints:
    """For each subject, the rows of four assessments: the first PD, the last adequate one, the last
    adequate one on or before the new therapy and the last adequate one before the event.

    Parameters
    ----------
    heads
        Offsets of the subjects' row segments in the assessments (sorted by subject, then date; the last
        offset is the number of rows).
    owner
        The subject (index into ``origin``, ``death``, ``nat``) of each segment, -1 for none.
    date, is_pd, adequate
        Per assessment row: days since 1970 (``BEFORE_ALL`` when unknown), PD, adequate (a response other
        than NE).
    origin, death, nat
        Per subject: the origin, the death (``NEVER`` when none or not an event source) and the start of
        a new anticancer therapy (``BEFORE_ALL`` when none), in days since 1970.
    progression
        Whether progression is an event source.

    Returns
    -------
    numpy.ndarray
        ``(subjects, 4)`` row numbers, -1 where there is none.

    Notes
    -----
    Only assessments on or after the origin count (PROTOCOL.md section 5). The event is the earliest of the
    first PD (when progression is a source) and the death; "before the event" is strictly before it, and
    there is no such assessment without an event. Ties on a date keep the row order (the first PD is the
    lowest row, each "last" the highest).
    """
    found = np.full((origin.shape[0], 4), -1, dtype=np.int64)
    for segment in range(owner.shape[0]):
        subject = owner[segment]
        if subject < 0:
            continue
        start, end = heads[segment], heads[segment + 1]
        first_pd = -1
        last = -1
        before_nat = -1
        for row in range(start, end):
            if date[row] < origin[subject]:
                continue
            if is_pd[row] and first_pd < 0:
                first_pd = row
            if adequate[row]:
                last = row
                if date[row] <= nat[subject]:
                    before_nat = row
        event = death[subject]
        if progression and first_pd >= 0 and date[first_pd] < event:
            event = date[first_pd]
        before_event = -1
        if event != NEVER:
            for row in range(start, end):
                if date[row] >= event:
                    break
                if date[row] >= origin[subject] and adequate[row]:
                    before_event = row
        found[subject, 0] = first_pd
        found[subject, 1] = last
        found[subject, 2] = before_nat
        found[subject, 3] = before_event
    return found


#: The outcomes of an ADTTE record, in the order :func:`decide_outcomes` tries them (``derive_adtte``'s
#: Notes): a step of that kind is tried only when the endpoint lists it (the event always).
(
    NO_BASELINE,
    NEW_THERAPY,
    MISSED,
    DEATH_BEFORE_FIRST,
    EVENT,
    LAST_KNOWN_ALIVE,
    LAST_ADEQUATE,
    ORIGIN,
) = range(8)
#: Places in the ``codes`` argument of :func:`decide_outcomes`: texts of the endpoint's small table.
(
    CODE_ORIGIN_DOMAIN,
    CODE_ORIGIN_VARIABLE,
    CODE_ASSESSMENT_VARIABLE,
    CODE_PROGRESSION,
    CODE_DEATH,
    CODE_DEATH_DOMAIN,
    CODE_DEATH_VARIABLE,
    CODE_ALIVE_DOMAIN,
    CODE_ALIVE_VARIABLE,
) = range(9)


@kernel()
def decide_outcomes(
    steps: Ints,
    step_cnsr: Ints,
    step_description: Ints,
    codes: Ints,
    missed_count: int,
    rows: Ints,
    date: Ints,
    origin: Ints,
    death: Ints,
    nat: Ints,
    alive: Ints,
    has_baseline: Bools,
    period_end: Ints,
    interval: Ints,
    window: Ints,
    progression: bool,
    out_adt: Ints,
    out_cnsr: Ints,
    out_row: Ints,
    out_evntdesc: Ints,
    out_cnsdtdsc: Ints,
    out_srcdom: Ints,
    out_srcvar: Ints,
) -> None:
    """Per subject, the first outcome of ``steps`` that applies: the ADTTE record's date, CNSR, assessment
    row and text codes (written to the ``out_`` arrays; a subject no step decides keeps ``NEVER`` and -1s).

    Parameters
    ----------
    steps, step_cnsr, step_description
        The outcomes to try, in order (:data:`NO_BASELINE` ... :data:`ORIGIN`), each with its CNSR and the
        code of its CNSDTDSC (the event's are unused).
    codes
        The codes of the table's fixed texts, at the places :data:`CODE_ORIGIN_DOMAIN` ... (-1: none).
    missed_count
        ``k`` of ``missed_assessments``.
    rows
        ``(subjects, 4)``: :func:`scan_assessments`' first PD, last adequate, last adequate on or before the
        new therapy and last adequate before the event (-1: none).
    date
        Per assessment row, days since 1970.
    origin, death, nat, alive
        Per subject in days since 1970 (``NEVER``: none): the origin, the death (``NEVER`` too when death is
        not an event source), the new anticancer therapy's start and the last known alive date.
    has_baseline
        Per subject, whether there is a baseline assessment.
    period_end, interval, window
        ``(subjects, periods)`` last days of the assessment periods (``NEVER``: none) and per period its
        interval and window in days (read by :data:`MISSED` only).
    progression
        Whether progression is an event source.

    Notes
    -----
    The rules of ``oligotrial.endpoints.adtte.derive_adtte`` (PROTOCOL.md section 5): the event is the
    earliest of the first PD and the death, progression winning a tie; censored "at an assessment" means
    at that assessment's date with its row (SRCDOM -1: the assessment's own), else at the origin. The gap
    of ``missed_assessments`` is measured from the last adequate assessment before the event (else the
    origin), against the interval and window of the first period whose end is on or after it (else the
    last period).
    """
    for i in range(origin.shape[0]):
        start = origin[i]
        pd_row = rows[i, 0]
        pd_day = date[pd_row] if progression and pd_row >= 0 else NEVER
        event = min(pd_day, death[i])
        has_event = event != NEVER
        by_progression = pd_day != NEVER and pd_day == event
        before_row = rows[i, 3]
        last_seen = date[before_row] if before_row >= 0 else start
        for step in range(steps.shape[0]):
            kind = steps[step]
            at = -2  # the lookup censored at (-1: the origin), or -2: the step does not apply
            if kind == NO_BASELINE:
                if not has_baseline[i]:
                    at = -1
            elif kind == NEW_THERAPY:
                if nat[i] != NEVER and nat[i] >= start and (not has_event or nat[i] < event):
                    at = 2
            elif kind == MISSED:
                if has_event:
                    chosen = interval.shape[0] - 1
                    for period in range(interval.shape[0]):
                        end = period_end[i, period]
                        if end != NEVER and last_seen <= end:
                            chosen = period
                            break
                    if event - last_seen > missed_count * interval[chosen] + window[chosen]:
                        at = 3
            elif kind == DEATH_BEFORE_FIRST:
                if has_event and not by_progression and before_row < 0:
                    at = -1
            elif kind == EVENT:
                if has_event:
                    out_adt[i] = event
                    out_cnsr[i] = 0
                    out_row[i] = pd_row if by_progression else -1
                    out_evntdesc[i] = codes[CODE_PROGRESSION] if by_progression else codes[CODE_DEATH]
                    out_srcdom[i] = -1 if by_progression else codes[CODE_DEATH_DOMAIN]
                    out_srcvar[i] = (
                        codes[CODE_ASSESSMENT_VARIABLE] if by_progression else codes[CODE_DEATH_VARIABLE]
                    )
                    break
            elif kind == LAST_KNOWN_ALIVE:
                out_adt[i] = max(alive[i], start) if alive[i] != NEVER else start
                out_cnsr[i] = step_cnsr[step]
                out_cnsdtdsc[i] = step_description[step]
                out_srcdom[i] = codes[CODE_ALIVE_DOMAIN]
                out_srcvar[i] = codes[CODE_ALIVE_VARIABLE]
                break
            elif kind == LAST_ADEQUATE:
                if rows[i, 1] >= 0:
                    at = 1
            else:  # ORIGIN
                at = -1
            if at == -2:
                continue
            row = rows[i, at] if at >= 0 else -1
            out_cnsr[i] = step_cnsr[step]
            out_cnsdtdsc[i] = step_description[step]
            out_row[i] = row
            if row >= 0:
                out_adt[i] = date[row]
                out_srcdom[i] = -1
                out_srcvar[i] = codes[CODE_ASSESSMENT_VARIABLE]
            else:
                out_adt[i] = start
                out_srcdom[i] = codes[CODE_ORIGIN_DOMAIN]
                out_srcvar[i] = codes[CODE_ORIGIN_VARIABLE]
            break
