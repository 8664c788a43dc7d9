"""Compiled per-subject scans of the endpoint derivations (numba; private).

Imported on first use: loading the compiled cache (or compiling) costs a fraction of a second that a caller
who never derives ADaM should not pay. The typed entry points are
:func:`oligotrial.endpoints.adtte.assessment_rows` (the rules are documented in
:func:`oligotrial.endpoints.adtte.derive_adtte`) and :func:`extremes_at` (per-subject first and last values).
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
    """``found[rows[i]] = min(found[rows[i]], values[i])`` for every ``i`` (max when not ``lowest``):
    ``numpy.minimum.at`` / ``numpy.maximum.at`` in one pass.

    Parameters
    ----------
    found
        Per subject, the running extreme (updated in place; its initial value is kept where no record has
        a lower, or higher, value).
    rows, values
        Per record, its subject (an index into ``found``) and its value.

    Notes
    -----
    The per-subject first and last dates of ADSL (SDTMIG 3.4 / ADaMIG: RANDDT, TRTSDT, TRTEDT and the
    like), the first tumour result and the first dose after radiotherapy are such extremes.
    """
    for record in range(rows.shape[0]):
        row = rows[record]
        value = values[record]
        if (value < found[row]) if lowest else (value > found[row]):
            found[row] = value


def extremes_at(found: Ints, rows: NDArray[np.integer], values: NDArray[np.number], *, lowest: bool) -> None:
    """``numpy.minimum.at(found, rows, values)`` (``numpy.maximum.at`` when not ``lowest``) by
    :func:`scatter_extremes`; ``values`` are whole numbers (days), given as any numeric array."""
    scatter_extremes(
        found,
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(values, dtype=np.int64),
        lowest,
    )


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
