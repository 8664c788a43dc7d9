"""Checks of the arrays given to the statistics functions, raising coded :class:`InputError`.

Codes: ``STAT-001`` a time is missing or not finite; ``STAT-002`` a time is negative; ``STAT-003`` an event
indicator is not 0/1; ``STAT-004`` arrays of different shapes; ``STAT-005`` an option out of its range;
``STAT-006`` fewer than two groups to compare; ``STAT-007`` counts that cannot be binomial; ``STAT-008`` a
covariate is missing or not finite; ``STAT-009`` no subject at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from oligotrial.errors import InputError


def check_survival_data(time: ArrayLike, event: ArrayLike, *others: tuple[str, ArrayLike]) -> None:
    """Raise :class:`InputError` unless times are finite and non-negative and events are 0/1.

    Parameters
    ----------
    time
        Follow-up times, any shape.
    event
        Event indicators (true or 1 for an event, false or 0 for a censoring), same shape as ``time``.
    *others
        ``(name, array)`` pairs that must have the same shape too (groups, strata, covariates, mask).

    Raises
    ------
    InputError
        ``STAT-001`` missing or non-finite time, ``STAT-002`` negative time, ``STAT-003`` event not 0/1,
        ``STAT-004`` shapes differ, ``STAT-009`` no subject. The field names the first offending position,
        e.g. ``time[12]``.

    Notes
    -----
    R ``survival::Surv`` accepts the same inputs (it drops missing values silently; here they are errors).
    Empty data is refused, as R ``survival::survfit`` and ``survdiff`` refuse it ("no (non-missing)
    observations").
    """
    t = np.asarray(time)
    e = np.asarray(event)
    shape = t.shape
    for name, array in [("event", e), *((n, np.asarray(a)) for n, a in others)]:
        if array.shape[: len(shape)] != shape:
            raise InputError.single(
                "STAT-004",
                name,
                f"expected the shape of time {shape}, got {array.shape}",
                value=list(array.shape),
            )
    if t.size == 0:
        raise InputError.single(
            "STAT-009", "time", "expected at least one subject, got none", value=list(shape)
        )
    if not np.issubdtype(t.dtype, np.number) or np.issubdtype(t.dtype, np.complexfloating):
        raise InputError.single("STAT-001", "time", f"expected real numbers, got dtype {t.dtype}")
    if not np.isfinite(t).all():  # the common case costs one pass; the position only on failure
        _first_bad(~np.isfinite(t), t, "STAT-001", "time", "expected a finite follow-up time")
    if (t < 0).any():
        _first_bad(t < 0, t, "STAT-002", "time", "expected a non-negative follow-up time")
    if e.dtype != np.bool_:
        # numbers: two comparisons (NaN fails both), cheaper than isin
        bad = (e != 0) & (e != 1) if e.dtype.kind in "iuf" else ~np.isin(e, (0, 1))
        _first_bad(bad, e, "STAT-003", "event", "expected 1 (event) or 0 (censored)")


def check_finite(values: ArrayLike, name: str) -> None:
    """Raise ``STAT-008`` naming the first missing or non-finite value of a covariate array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError.single(
            "STAT-008", name, "expected numbers; encode categories as indicators"
        ) from None
    _first_bad(~np.isfinite(array), array, "STAT-008", name, "expected a finite number")


def _first_bad(bad: NDArray[np.bool_], values: NDArray[Any], code: str, name: str, message: str) -> None:
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index = ", ".join(str(i) for i in where)
        raise InputError.single(code, f"{name}[{index}]", message, value=values[where].item())


def check_option(value: Any, name: str, allowed: Sequence[Any]) -> None:
    """Raise ``STAT-005`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InputError.single(
            "STAT-005", name, f"expected one of {', '.join(map(str, allowed))}; got {value!r}", value=value
        )


def check_conf_level(conf_level: float) -> None:
    """Raise ``STAT-005`` unless the confidence level is strictly between 0 and 1."""
    if not 0.0 < conf_level < 1.0:
        raise InputError.single(
            "STAT-005", "conf_level", "expected a confidence level between 0 and 1, e.g. 0.95", conf_level
        )


def encode(labels: ArrayLike, name: str) -> tuple[list[Any], NDArray[np.int64]]:
    """Sorted distinct labels and the integer code of each element."""
    array = np.asarray(labels)
    if array.dtype.kind == "f" and np.isnan(array).any():
        _first_bad(np.isnan(array), array, "STAT-001", name, "expected a value, got a missing one")
    if array.dtype.kind in "iub" and array.size:  # small whole-number labels: a lookup, no sort
        low, high = int(array.min()), int(array.max())
        if high - low < 1 << 20:
            offset = array.astype(np.int64)
            if low:
                offset = offset - low
            present = np.bincount(offset.ravel(), minlength=high - low + 1) > 0
            labels = [int(v) + low for v in np.flatnonzero(present)]
            if present.all():  # the labels are low .. high: the offsets are the codes
                return labels, offset
            lookup = np.cumsum(present) - 1
            return labels, lookup[offset]
    levels, codes = np.unique(array, return_inverse=True)
    return [level.item() for level in levels], codes.reshape(array.shape).astype(np.int64)
