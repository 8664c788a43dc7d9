"""Risk sets of a batch of trials: subjects sorted once by (replicate, stratum, time).

Every survival method here (Kaplan–Meier, log-rank, Cox) works on a ``(replicates, subjects)`` batch with a
boolean mask, and a single trial is the batch of one. After one sort per replicate, a tie group (same
stratum, same time) is a contiguous run and the risk set of a subject is the run from the start of its tie
group to the end of its stratum, so every risk-set sum is a difference of two cumulative sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class RiskSets:
    """A batch sorted by (stratum, time) within each replicate; masked-out subjects sort last.

    Attributes
    ----------
    order
        ``(R, N)`` permutation of each replicate's subjects into sorted order.
    time, is_event, stratum
        Sorted times, event indicators (false outside the mask) and stratum codes (``n_strata`` outside
        the mask).
    n_strata
        Number of strata codes in use (``0 .. n_strata - 1``).
    group_start, group_stop
        ``(R, N)`` index of the first subject of each subject's tie group, and one past its last.
    stratum_start, stratum_stop
        ``(R, N)`` index of the first subject of each subject's stratum, and one past its last.
    """

    order: IntArray
    time: FloatArray
    is_event: BoolArray
    stratum: IntArray
    n_strata: int
    group_start: IntArray
    group_stop: IntArray
    stratum_start: IntArray
    stratum_stop: IntArray

    @property
    def shape(self) -> tuple[int, int]:
        r, n = self.time.shape
        return r, n

    def flat(self, index: IntArray) -> IntArray:
        """Flat positions in a ``(R, N + 1)`` padded cumulative sum of per-row column ``index``."""
        r, n = self.shape
        return index + (np.arange(r, dtype=np.int64) * (n + 1))[:, None]

    def take(self, values: NDArray[Any]) -> NDArray[Any]:
        """Reorder ``(R, N, ...)`` values into sorted order."""
        index = self.order.reshape(self.order.shape + (1,) * (values.ndim - 2))
        return np.take_along_axis(values, index, axis=1)

    def first_of_groups(self) -> BoolArray:
        """``(R, N)`` true at the first subject of each tie group inside the mask."""
        columns = np.arange(self.shape[1], dtype=np.int64)
        first: BoolArray = (self.group_start == columns) & (self.stratum < self.n_strata)
        return first


def padded_cumsum(values: NDArray[Any]) -> NDArray[Any]:
    """Cumulative sums along the subject axis with a leading zero, flattened over replicates.

    For ``(R, N, ...)`` values returns ``(R * (N + 1), ...)`` so that the sum of row ``r`` over columns
    ``[a, b)`` is ``out[flat(b)] - out[flat(a)]`` with :meth:`RiskSets.flat`. Booleans are counted in
    integers, exactly.
    """
    r, n = values.shape[:2]
    dtype = np.int64 if values.dtype == np.bool_ else np.float64
    out = np.zeros((r, n + 1, *values.shape[2:]), dtype=dtype)
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out.reshape(r * (n + 1), *values.shape[2:])


def compute_risk_sets(time: FloatArray, is_event: BoolArray, stratum: IntArray, mask: BoolArray) -> RiskSets:
    """Sort a batch by (stratum, time) within each replicate and locate tie groups and strata.

    Parameters
    ----------
    time, is_event, stratum, mask
        ``(R, N)`` arrays; ``stratum`` holds codes ``0 .. K - 1``.

    Returns
    -------
    RiskSets
    """
    n_strata = int(stratum[mask].max()) + 1 if mask.any() else 1
    code = np.where(mask, stratum, n_strata)
    code = code.astype(np.int16 if n_strata < np.iinfo(np.int16).max else np.int64)
    by_time = np.argsort(time, axis=1)
    # A stable sort of small integer codes is a radix sort in numpy: the second pass costs little.
    by_stratum = np.argsort(np.take_along_axis(code, by_time, axis=1), axis=1, kind="stable")
    order = np.take_along_axis(by_time, by_stratum, axis=1)

    sorted_time = np.take_along_axis(time, order, axis=1)
    sorted_code = np.take_along_axis(code, order, axis=1).astype(np.int64)
    sorted_event = np.take_along_axis(is_event & mask, order, axis=1)

    r, n = time.shape
    columns = np.broadcast_to(np.arange(n, dtype=np.int64), (r, n))
    new_stratum = np.ones((r, n), dtype=bool)
    new_stratum[:, 1:] = sorted_code[:, 1:] != sorted_code[:, :-1]
    new_group = new_stratum.copy()
    new_group[:, 1:] |= sorted_time[:, 1:] != sorted_time[:, :-1]

    return RiskSets(
        order=order,
        time=sorted_time,
        is_event=sorted_event,
        stratum=sorted_code,
        n_strata=n_strata,
        group_start=np.maximum.accumulate(np.where(new_group, columns, 0), axis=1),
        group_stop=_next_start(new_group, columns),
        stratum_start=np.maximum.accumulate(np.where(new_stratum, columns, 0), axis=1),
        stratum_stop=_next_start(new_stratum, columns),
    )


def _next_start(is_start: BoolArray, columns: IntArray) -> IntArray:
    """For each column, the index of the next run start after it (``N`` after the last run)."""
    n = is_start.shape[1]
    following = np.full(is_start.shape, n, dtype=np.int64)
    following[:, :-1] = np.where(is_start[:, 1:], columns[:, 1:], n)
    return np.minimum.accumulate(following[:, ::-1], axis=1)[:, ::-1]


def cumsum_within(values: NDArray[Any], is_first: BoolArray) -> NDArray[Any]:
    """Cumulative sums of 1-D ``values`` restarting wherever ``is_first`` is true."""
    total = np.cumsum(values)
    first = np.maximum.accumulate(np.where(is_first, np.arange(values.size), 0))
    before = np.concatenate([np.zeros(1, dtype=total.dtype), total])[first]
    within: NDArray[Any] = total - before
    return within


def sum_by_replicate(replicate: IntArray, values: FloatArray, n_replicates: int) -> FloatArray:
    """Sum ``(G, ...)`` row values into ``(n_replicates, ...)`` by the replicate of each row."""
    flat = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
    sums = [np.bincount(replicate, weights=flat[:, j], minlength=n_replicates) for j in range(flat.shape[1])]
    return np.stack(sums, axis=1).astype(np.float64).reshape(n_replicates, *values.shape[1:])
