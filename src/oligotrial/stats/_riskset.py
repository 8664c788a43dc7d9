"""Risk sets of a batch of trials: subjects sorted once by (replicate, stratum, time).

Every survival method here (Kaplan–Meier, log-rank, Cox) works on a ``(replicates, subjects)`` batch with a
boolean mask, and a single trial is the batch of one. After one sort per replicate, a tie group (same
stratum, same time) is a contiguous run, its events come first in it, and the risk set of a subject is the
run from the start of its tie group to the end of its stratum (a *block*: one stratum of one replicate).
Counts over a risk set are differences of integer cumulative sums (exact); the log-rank and Cox sums are
accumulated from the end of each block by the compiled walks of :mod:`oligotrial.stats._kernels`, as R's
``coxfit6`` does, never as differences of large totals.

The sort is one ``numpy.sort`` of packed 64-bit keys per replicate, (stratum, time, censored, position), not
an ``argsort`` followed by a stable sort by stratum: sorting plain integers is markedly faster than sorting
indices by value (1.7 times on the benchmark machine). The time takes the bits left over by the other
fields; where that truncation merges two different times, those few runs are sorted again exactly, so the
result is always the exact order. Large batches sort, and are walked, in pieces on the available cores
(:func:`sort_rows`, :func:`run_by_blocks`); the result of a sort does not depend on the pieces.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oligotrial._threads import core_pool, usable_cores

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_MIN_KEY_TIME_BITS = 24  # below this, strata codes are replaced by their ranks in the sort key
_PARALLEL_SIZE = 1 << 18  # subjects from which sorting or walking in pieces on several cores pays


@dataclass(frozen=True)
class RiskSets:
    """A batch sorted by (stratum, time) within each replicate; masked-out subjects sort last.

    Within a tie group the events come first, then the censored subjects; each in decreasing position, so
    that accumulating from the end of a block adds subjects in the order of R's ``coxph`` (which sorts by
    stratum, decreasing time, then status, stably). Tie groups and blocks are given by flat positions in
    the ``(R * N)`` flattened sorted arrays, in sorted order.

    Attributes
    ----------
    order
        ``(R, N)`` permutation of each replicate's subjects into sorted order (when asked for).
    label
        ``(R, N)`` sorted labels (when given).
    group_time
        ``(G,)`` time of each tie group (when asked for).
    is_event
        ``(R, N)`` sorted event indicators (false outside the mask).
    n_strata
        Number of strata codes in use (``0 .. n_strata - 1``).
    first, stop
        ``(G,)`` flat position of the first subject of each tie group inside the mask, and one past its last.
    n_event
        ``(G,)`` events in each tie group (its first ``n_event`` subjects).
    block
        ``(G,)`` ``replicate * n_strata + stratum`` of each tie group.
    block_stop
        ``(G,)`` flat position one past the last subject of the tie group's block.
    block_groups
        ``(B + 1,)`` index of the first tie group of each block, then ``G``.
    """

    order: IntArray | None
    label: IntArray | None
    group_time: FloatArray | None
    is_event: BoolArray
    n_strata: int
    first: IntArray
    stop: IntArray
    n_event: IntArray
    block: IntArray
    block_stop: IntArray
    block_groups: IntArray

    @property
    def shape(self) -> tuple[int, int]:
        r, n = self.is_event.shape
        return r, n


def padded_cumsum(values: NDArray[Any]) -> NDArray[Any]:
    """Cumulative sums of 1-D ``values`` with a leading zero: ``values[a:b].sum() == out[b] - out[a]``.

    Booleans are counted in integers, exactly.
    """
    dtype = np.int64 if values.dtype == np.bool_ else np.float64
    out = np.zeros(values.shape[0] + 1, dtype=dtype)
    np.cumsum(values, out=out[1:])
    return out


@dataclass(frozen=True)
class SortedKeys:
    """A batch sorted by (stratum, time, censored) within each replicate: the packed keys and their fields.

    Attributes
    ----------
    key
        ``(R, N)`` sorted 64-bit keys: stratum code (the top ``64 - code_shift`` bits), time, censored bit
        (at ``censored_shift``), then the label and the position fields below it. Masked-out subjects sort
        last in each row.
    is_group_start
        ``(R, N)`` true at the first subject of each tie group (same stratum, same time), exactly, even
        where the key holds a truncated time.
    order
        ``(R, N)`` permutation into sorted order, or ``None`` when the key carries no positions.
    label
        ``(R, N)`` sorted labels, or ``None`` when none were given.
    n_in_sample
        ``(R,)`` subjects inside the mask: the first ones of each sorted row.
    """

    key: NDArray[np.uint64]
    is_group_start: BoolArray
    order: IntArray | None
    label: IntArray | None
    n_in_sample: IntArray
    n_strata: int
    levels: NDArray[Any] | None  # strata codes, when the key holds their ranks instead
    code_shift: int
    censored_shift: int
    time_bits: int
    time_low: int  # the bit pattern that the time field counts from
    has_zero: bool
    time: FloatArray  # (R, N) times as given to the sort (masked subjects: the smallest time)
    is_all: bool

    @property
    def shape(self) -> tuple[int, int]:
        r, n = self.key.shape
        return r, n


def sort_keys(
    time: FloatArray,
    is_event: BoolArray,
    stratum: IntArray,
    mask: BoolArray,
    *,
    label: IntArray | None = None,
    n_labels: int = 1,
    is_order_needed: bool = True,
) -> SortedKeys:
    """Sort a batch by (stratum, time, censored) within each replicate, as packed 64-bit keys.

    Parameters
    ----------
    time, is_event, stratum, mask
        ``(R, N)`` arrays; ``stratum`` holds codes ``0 .. K - 1``.
    label
        ``(R, N)`` codes ``0 .. n_labels - 1`` inside the mask (e.g. the arm) to sort along, returned in
        sorted order as :attr:`SortedKeys.label`; or ``None``.
    is_order_needed
        Whether :attr:`SortedKeys.order` is needed (to reorder covariates). Without it the key need not
        carry positions, and the times usually fit in it whole: no gathers at all.

    Returns
    -------
    SortedKeys
    """
    r, n = time.shape
    is_all = bool(mask.all())
    if is_all:
        n_strata = int(stratum.max(initial=0)) + 1
        n_in_sample = np.full(r, n, dtype=np.int64)
    else:
        n_strata = int(np.max(stratum, where=mask, initial=0)) + 1 if mask.any() else 1
        n_in_sample = mask.sum(axis=1)
    if is_all:
        t = time + 0.0  # a contiguous copy; + 0.0 also turns -0.0 into 0.0, whose bits sort first
        code = stratum
    else:  # masked subjects take the smallest time (theirs may be anything) and the code after the last
        t = np.where(mask, time, np.min(time, where=mask, initial=np.inf)) + 0.0
        code = np.where(mask, stratum, n_strata)
        is_event = is_event & mask
        label = None if label is None else np.where(mask, label, 0)

    # the time field: bit patterns counted from the smallest positive time (0 for time 0), so that exact
    # zeros do not stretch the range down to the smallest double
    bits = t.view(np.uint64)  # non-negative doubles sort as their bit patterns
    low, high = int(bits.min()), int(bits.max())
    has_zero = low == 0 and high > 0
    if has_zero:
        low = int(np.min(bits, where=bits > 0, initial=high)) - 1
    span_bits = (high - low).bit_length()
    label_bits = (n_labels - 1).bit_length() if label is not None else 0
    code_bits = n_strata.bit_length()  # codes 0 .. n_strata, the last one for masked subjects
    is_packed = not is_order_needed and code_bits + span_bits + 1 + label_bits <= 64
    index_bits = 0 if is_packed else (n - 1).bit_length()
    levels = None
    if 63 - code_bits - label_bits - index_bits < _MIN_KEY_TIME_BITS or int(np.min(code, initial=0)) < 0:
        levels, code = np.unique(code, return_inverse=True)  # many or odd codes: sort by their ranks
        code = code.reshape(r, n)
        code_bits = max(int(levels.size - 1).bit_length(), 1)
    low_bits = label_bits + index_bits  # below the censored bit: label, then position
    time_bits = 63 - code_bits - low_bits
    shift = max(span_bits - time_bits, 0)
    if has_zero and shift and low + 1 >= 1 << shift:  # keep 0 apart from the smallest positive time
        low = low + 1 - (1 << shift)  # one truncation step below it
        shift = max((high - low).bit_length() - time_bits, 0)
    code_shift = 64 - code_bits

    # order-preserving and one-to-one on the times (zeros: max(0, low) - low = 0; positives above low)
    part = np.maximum(bits, np.uint64(low)) - np.uint64(low) if has_zero else bits - np.uint64(low)
    key = part >> np.uint64(shift) if shift else part
    key <<= np.uint64(low_bits + 1)
    key |= np.left_shift(code.astype(np.int64, copy=False).view(np.uint64), np.uint64(code_shift))
    key |= np.where(is_event, np.uint64(0), np.uint64(1 << low_bits))
    if label is not None:
        key |= np.left_shift(label.astype(np.int64, copy=False).view(np.uint64), np.uint64(index_bits))
    if index_bits:
        key |= np.arange(n - 1, -1, -1, dtype=np.uint64)
    sort_rows(key)

    order = None if is_packed else (n - 1) - (key & np.uint64((1 << index_bits) - 1)).view(np.int64)
    run = key >> np.uint64(low_bits + 1)  # (stratum, time, truncated when shift > 0)
    new_group = np.ones((r, n), dtype=bool)
    np.not_equal(run[:, 1:], run[:, :-1], out=new_group[:, 1:])
    if shift and order is not None:  # truncation may have merged different times: sort those runs again
        # within a run the parts differ by less than 2 ** shift, so when shift <= 32 their low words tell
        # whether the times are equal (and gather faster than the times)
        lost = part.astype(np.uint32) if shift <= 32 else part
        sorted_lost = _take(lost, order)
        changed = sorted_lost[:, 1:] != sorted_lost[:, :-1]
        merged = changed & ~new_group[:, 1:]
        if merged.any():
            _sort_merged_runs(key, order, t, new_group, merged, low_bits)
            sorted_lost = _take(lost, order)
            changed = sorted_lost[:, 1:] != sorted_lost[:, :-1]
        new_group[:, 1:] |= changed
    sorted_label = None
    if label is not None:
        label_mask = np.uint64((1 << label_bits) - 1)
        sorted_label = ((key >> np.uint64(index_bits)) & label_mask).view(np.int64)
    return SortedKeys(
        key=key,
        is_group_start=new_group,
        order=order,
        label=sorted_label,
        n_in_sample=n_in_sample,
        n_strata=n_strata,
        levels=levels,
        code_shift=code_shift,
        censored_shift=low_bits,
        time_bits=time_bits,
        time_low=low,
        has_zero=has_zero,
        time=t,
        is_all=is_all,
    )


def compute_risk_sets(
    time: FloatArray,
    is_event: BoolArray,
    stratum: IntArray,
    mask: BoolArray,
    *,
    label: IntArray | None = None,
    n_labels: int = 1,
    is_order_needed: bool = True,
    is_time_needed: bool = False,
) -> RiskSets:
    """Sort a batch by (stratum, time, censored) within each replicate and locate tie groups and blocks.

    Parameters
    ----------
    time, is_event, stratum, mask, label, n_labels, is_order_needed
        As :func:`sort_keys`.
    is_time_needed
        Whether :attr:`RiskSets.group_time` is needed.

    Returns
    -------
    RiskSets
    """
    keys = sort_keys(
        time, is_event, stratum, mask, label=label, n_labels=n_labels, is_order_needed=is_order_needed
    )
    key, order, n_strata = keys.key, keys.order, keys.n_strata
    r, n = keys.shape
    code_shift = np.uint64(keys.code_shift)
    first_all = np.flatnonzero(keys.is_group_start)
    code_at = (key.reshape(-1)[first_all] >> code_shift).view(np.int64)
    if keys.levels is not None:
        code_at = keys.levels[code_at].astype(np.int64)
    stop = np.append(first_all[1:], r * n)
    first = first_all
    if not keys.is_all:
        inside = code_at < n_strata
        first, stop, code_at = first_all[inside], stop[inside], code_at[inside]
    sorted_event = (key & np.uint64(1 << keys.censored_shift)) == 0
    events = padded_cumsum(sorted_event.reshape(-1))
    block = code_at if r == 1 else (first // n) * n_strata + code_at
    new_block = np.flatnonzero(block[1:] != block[:-1]) + 1
    block_groups = np.concatenate([[0], new_block, [block.size]] if block.size else [[0]]).astype(np.int64)
    block_stop = stop[block_groups[1:] - 1]

    group_time = None
    if is_time_needed and order is None:  # the key holds the whole time
        part = (key.reshape(-1)[first] >> np.uint64(keys.censored_shift + 1)) & np.uint64(
            (1 << keys.time_bits) - 1
        )
        group_time = (part + np.uint64(keys.time_low)).view(np.float64)
        if keys.has_zero:
            group_time[part == 0] = 0.0
    elif is_time_needed and order is not None:
        group_time = _take(keys.time, order).reshape(-1)[first]
    return RiskSets(
        order=order,
        label=keys.label,
        group_time=group_time,
        is_event=sorted_event,
        n_strata=n_strata,
        first=first,
        stop=stop,
        n_event=events[stop] - events[first],
        block=block,
        block_stop=np.repeat(block_stop, np.diff(block_groups)),
        block_groups=block_groups,
    )


def sort_rows(key: NDArray[np.uint64]) -> None:
    """Sort each row of a ``(R, N)`` array in place; a large array in pieces on the available cores.

    Notes
    -----
    ``numpy.sort`` releases the GIL, so pieces sort in parallel threads. Whole rows are shared out when there
    are enough of them; otherwise each row is sorted as pieces and the sorted pieces merged by one stable
    sort (Timsort finds the sorted runs and merges them in linear time). Integers have one sorted order, so
    the result is that of a plain sort.
    """
    workers = _worker_pool()
    if workers is None or key.size < _PARALLEL_SIZE:
        key.sort(axis=1)
        return
    pool, count = workers
    r, n = key.shape
    if r >= count:
        edges = np.linspace(0, r, count + 1).astype(int).tolist()
        list(pool.map(lambda rows: rows.sort(axis=1), [key[a:b] for a, b in itertools.pairwise(edges)]))
        return
    edges = np.linspace(0, n, count + 1).astype(int).tolist()
    for row in key:
        list(pool.map(np.ndarray.sort, [row[a:b] for a, b in itertools.pairwise(edges)]))
        row.sort(kind="stable")


def run_by_blocks(
    kernel: Callable[[IntArray], tuple[NDArray[np.float64], ...]], blocks: IntArray
) -> tuple[NDArray[np.float64], ...]:
    """Run a kernel that releases the GIL over ``(B, 3)`` blocks (replicate, first, stop), in threads.

    The blocks are shared out in contiguous runs of about equal numbers of subjects, one run per core (whole
    replicates when there are several), and the kernel's per-replicate sums added up in that order.
    """
    workers = _worker_pool()
    sizes = blocks[:, 2] - blocks[:, 1]
    total = int(sizes.sum())
    if workers is None or total < _PARALLEL_SIZE or blocks.shape[0] < 2:
        return kernel(blocks)
    pool, count = workers
    before = np.concatenate([[0], np.cumsum(sizes)])  # subjects before each block
    if blocks[-1, 0] > blocks[0, 0]:  # several replicates: cut only where a replicate starts
        allowed = np.flatnonzero(np.diff(blocks[:, 0])) + 1
    else:
        allowed = np.arange(1, blocks.shape[0])
    targets = total * np.arange(1, count) / count
    nearest = np.abs(before[allowed][None, :] - targets[:, None]).argmin(
        axis=1
    )  # the cut nearest each target
    edges = np.unique(allowed[nearest])
    parts = np.split(blocks, edges)
    results = list(pool.map(kernel, parts))
    return tuple(functools.reduce(np.add, arrays) for arrays in zip(*results, strict=True))


def _worker_pool() -> tuple[ThreadPoolExecutor, int] | None:
    """Threads for :func:`sort_rows` and :func:`run_by_blocks`, one per core this process may use (none
    on one core), with their number."""
    pool = core_pool("sort")
    return None if pool is None else (pool, usable_cores())


def _take(values: NDArray[Any], order: IntArray) -> NDArray[Any]:
    """``(R, N, ...)`` values reordered by the ``(R, N)`` permutations of each row (one flat gather)."""
    r, n = order.shape
    flat = order if r == 1 else order + (np.arange(r, dtype=np.int64) * n)[:, None]
    taken: NDArray[Any] = values.reshape(r * n, *values.shape[2:])[flat.reshape(-1)]
    return taken.reshape(values.shape)


def _sort_merged_runs(
    key: NDArray[np.uint64],
    order: IntArray,
    time: FloatArray,
    new_run: BoolArray,
    merged: BoolArray,
    low_bits: int,
) -> None:
    """Sort exactly, in place, the runs of equal (stratum, truncated time) that hold different times.

    ``low_bits`` is the width of the fields below the censored bit (label and position).
    """
    n = key.shape[1]
    run_id = np.cumsum(new_run.reshape(-1)) - 1
    rows, cols = np.nonzero(merged)
    bad_runs = np.unique(run_id[rows * n + cols + 1])
    where = np.flatnonzero(np.isin(run_id, bad_runs))
    flat_key, flat_order = key.reshape(-1), order.reshape(-1)
    sub_key, sub_order = flat_key[where], flat_order[where]
    sub_time = time.reshape(-1)[where // n * n + sub_order]
    low = sub_key & np.uint64((1 << (low_bits + 1)) - 1)  # (censored, label, position)
    perm = np.lexsort((low, sub_time, run_id[where]))
    flat_key[where] = sub_key[perm]
    flat_order[where] = sub_order[perm]


def cumsum_within(values: NDArray[Any], is_first: BoolArray) -> NDArray[Any]:
    """Cumulative sums of 1-D ``values`` restarting wherever ``is_first`` is true."""
    total = np.cumsum(values)
    first = np.maximum.accumulate(np.where(is_first, np.arange(values.size), 0))
    before = np.concatenate([np.zeros(1, dtype=total.dtype), total])[first]
    within: NDArray[Any] = total - before
    return within
