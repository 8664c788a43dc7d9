"""Each record's DM row found through hashes of the subject identifiers (numba; private).

Imported on first use (it loads numba). The typed entry point is :func:`hashed_subject_rows`, used by
:func:`oligotrial.endpoints.sdtm.subject_rows_of`: polars hashes both columns (one vectorised pass), a
compiled pass looks each record's hash up in a table of DM's hashes, and every record found is then
compared with its DM subject as text, so that a hash collision can never give a wrong row: on a collision,
or when DM holds a hash twice (a duplicate subject, which the SDTM checks report), ``None`` is returned and
the caller finds the rows its own way.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import types
from numpy.typing import NDArray

from oligotrial._compiled import kernel

__all__ = ["hashed_subject_rows"]

Ints = NDArray[np.int64]
Hashes = NDArray[np.uint64]
Bools = NDArray[np.bool_]

#: The seed of polars' hash for both columns (any fixed value: only equality within one call matters).
_SEED = 20240611

_H = types.Array(types.uint64, 1, "C", readonly=True)
_B = types.Array(types.boolean, 1, "C", readonly=True)
_I = types.Array(types.int64, 1, "C")
_LOOKUP = [types.boolean(_H, _B, _H, _B, _I)]


@kernel(_LOOKUP)
def lookup_hashes(dm_hash: Hashes, dm_known: Bools, record_hash: Hashes, known: Bools, rows: Ints) -> bool:
    """Write into ``rows`` the DM row whose hash equals each record's hash (-1: none, or a null record).

    Parameters
    ----------
    dm_hash, dm_known
        Per DM row: the hash of its subject and whether it has one (not null).
    record_hash, known
        Per record: the same.
    rows
        Written: per record, the DM row (0-based) or -1.

    Returns
    -------
    bool
        ``False`` when two DM rows share a hash (the caller then looks the records up by their text).

    Notes
    -----
    An open-addressing table of DM's hashes (linear probing, at most half full). Records usually come in
    runs of one subject: a record with the hash of the one before it takes its row without a probe. Equal
    hashes do not prove equal text: the caller compares every record found with its DM subject (the rule
    is SDTMIG 3.4's USUBJID, identical text in every domain).
    """
    size = 16
    while size < 2 * dm_hash.shape[0]:
        size *= 2
    mask = np.uint64(size - 1)
    slot_row = np.full(size, -1, dtype=np.int64)
    slot_hash = np.zeros(size, dtype=np.uint64)
    for row in range(dm_hash.shape[0]):
        if not dm_known[row]:
            continue
        value = dm_hash[row]
        slot = value & mask
        while slot_row[slot] >= 0:
            if slot_hash[slot] == value:
                return False
            slot = (slot + np.uint64(1)) & mask
        slot_row[slot] = row
        slot_hash[slot] = value
    previous_known = False
    previous = np.uint64(0)
    for record in range(record_hash.shape[0]):
        if not known[record]:
            rows[record] = -1
            previous_known = False
            continue
        value = record_hash[record]
        if previous_known and value == previous:
            rows[record] = rows[record - 1]
            continue
        found = -1
        slot = value & mask
        while slot_row[slot] >= 0:
            if slot_hash[slot] == value:
                found = slot_row[slot]
                break
            slot = (slot + np.uint64(1)) & mask
        rows[record] = found
        previous_known, previous = True, value
    return True


def hashed_subject_rows(subject: pl.Series, dm_subject: pl.Series) -> Ints | None:
    """The row of ``dm_subject`` holding each value of ``subject`` (-1 when absent or null), or ``None`` when
    DM holds a hash twice or a hash matched a different text.

    Notes
    -----
    The same rows as the exact lookups of :func:`oligotrial.endpoints.sdtm.subject_rows_of` (identical text,
    null never found): a record whose hash is not in DM cannot be in DM, and each record whose hash is found
    is compared with that DM row's text (:func:`lookup_hashes`).
    """
    if subject.dtype != pl.String or dm_subject.dtype != pl.String:
        return None
    rows = np.empty(subject.len(), dtype=np.int64)
    usable = lookup_hashes(
        dm_subject.hash(_SEED).to_numpy(),
        dm_subject.is_not_null().to_numpy(),
        subject.hash(_SEED).to_numpy(),
        subject.is_not_null().to_numpy(),
        rows,
    )
    if not usable:
        return None
    found = rows >= 0
    if found.any():
        same = (subject == dm_subject.gather(np.where(found, rows, 0))).fill_null(False).to_numpy()
        if not same[found].all():  # a collision: two texts with one hash
            return None
    return rows
