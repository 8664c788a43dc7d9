"""Kaplan–Meier estimates, their confidence intervals, medians and restricted means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from oligotrial.errors import InputError
from oligotrial.stats._riskset import (
    BoolArray,
    FloatArray,
    IntArray,
    compute_risk_sets,
    cumsum_within,
)
from oligotrial.stats._validation import check_conf_level, check_option, check_survival_data, encode

__all__ = [
    "KaplanMeier",
    "KmMedians",
    "Rmst",
    "RmstDifference",
    "SurvivalAt",
    "compute_confint",
    "compute_km",
    "compute_km_at",
    "compute_km_median_batch",
    "compute_rmst",
    "compute_rmst_difference",
]

ConfType = Literal["log", "log-log", "plain"]
CONF_TYPES: tuple[ConfType, ...] = ("log", "log-log", "plain")
_TOLERANCE = float(np.sqrt(np.finfo(np.float64).eps))  # R's .Machine$double.eps^0.5 in survmean


@dataclass(frozen=True)
class KaplanMeier:
    """One Kaplan–Meier curve, with one row per distinct time (events and censorings), as R's survfit.

    Attributes
    ----------
    group
        The group label, or ``None`` for an ungrouped curve.
    time, n_risk, n_event, n_censor
        Distinct times and the numbers at risk, with an event and censored there.
    surv, std_err
        Survival and the Greenwood standard error of the cumulative hazard (R's ``std.err``).
    lower, upper
        Confidence bounds of survival (``nan`` where they do not exist).
    n, events
        Subjects and events.
    median, median_lower, median_upper
        Median survival and its confidence interval as R prints it (``nan`` when not reached).
    conf_type, conf_level
        How the bounds were computed.
    """

    group: Any
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    surv: FloatArray
    std_err: FloatArray
    lower: FloatArray
    upper: FloatArray
    n: int
    events: int
    median: float
    median_lower: float
    median_upper: float
    conf_type: ConfType
    conf_level: float


@dataclass(frozen=True)
class SurvivalAt:
    """Survival read off a Kaplan–Meier curve at given times (``nan`` after the last observed time).

    ``std_err`` is the standard error of survival itself (Greenwood), as R ``summary.survfit`` prints it.
    """

    time: FloatArray
    surv: FloatArray
    std_err: FloatArray
    lower: FloatArray
    upper: FloatArray


@dataclass(frozen=True)
class KmMedians:
    """Medians of a batch: ``(replicates, groups)`` arrays, ``nan`` where not reached."""

    median: FloatArray
    lower: FloatArray
    upper: FloatArray


@dataclass(frozen=True)
class Rmst:
    """Restricted mean survival time up to ``tau`` and its standard error."""

    tau: float
    estimate: float
    se: float


@dataclass(frozen=True)
class RmstDifference:
    """Difference of restricted mean survival times (first minus second) with a Wald interval."""

    tau: float
    estimate: float
    se: float
    lower: float
    upper: float
    p: float


@dataclass(frozen=True)
class _Rows:
    """Kaplan–Meier rows of every (replicate, group) block of a batch, concatenated in sorted order."""

    block: IntArray
    block_stop: IntArray
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    surv: FloatArray
    std_err: FloatArray


def _km_rows(time: FloatArray, is_event: BoolArray, group: IntArray, mask: BoolArray) -> tuple[_Rows, int]:
    risk = compute_risk_sets(time, is_event, group, mask, is_order_needed=False, is_time_needed=True)
    n_event = risk.n_event
    n_risk = risk.block_stop - risk.first
    n_censor = risk.stop - risk.first - n_event

    block = risk.block
    is_first = np.zeros(block.size, dtype=bool)
    is_first[risk.block_groups[:-1]] = True
    block_stop = np.repeat(risk.block_groups[1:], np.diff(risk.block_groups))

    survivors = n_risk - n_event
    is_last = survivors == 0  # everyone left has the event: survival drops to 0, variance is infinite
    d = np.where(is_last, 0, n_event)
    log_surv = cumsum_within(np.log1p(-d / n_risk), is_first)
    greenwood = cumsum_within(d / (n_risk * np.where(is_last, 1, survivors)), is_first)
    ended = cumsum_within(is_last.astype(np.int64), is_first) > 0
    rows = _Rows(
        block=block,
        block_stop=block_stop,
        time=risk.group_time if risk.group_time is not None else np.zeros(0),
        n_risk=n_risk,
        n_event=n_event,
        n_censor=n_censor,
        surv=np.where(ended, 0.0, np.exp(log_surv)),
        std_err=np.where(ended, np.inf, np.sqrt(greenwood)),
    )
    return rows, risk.n_strata


def compute_confint(
    surv: FloatArray, std_err: FloatArray, conf_type: ConfType = "log", conf_level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Pointwise confidence bounds of survival from the standard error of the cumulative hazard.

    Parameters
    ----------
    surv
        Survival estimates.
    std_err
        Standard errors of the cumulative hazard (of ``-log(surv)``), as R's ``survfit`` ``std.err``.
    conf_type
        ``"log"`` (R's default), ``"log-log"`` or ``"plain"``.
    conf_level
        Confidence level.

    Returns
    -------
    lower, upper
        Bounds, ``nan`` where they do not exist (log: survival 0; log-log: survival 0 or 1).

    Notes
    -----
    Matches R ``survival:::survfit_confint`` with ``logse=TRUE``: log ``exp(log S ± z se)`` with the upper
    bound capped at 1; log-log ``exp(-exp(log(-log S) ∓ z se / log S))``; plain ``S ± z se S`` clipped to
    [0, 1].
    """
    check_option(conf_type, "conf_type", CONF_TYPES)
    check_conf_level(conf_level)
    z = float(ndtri(1.0 - (1.0 - conf_level) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = z * std_err * surv
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            log_s = np.log(np.where(surv == 0, np.nan, surv))
            return np.exp(log_s - z * std_err), np.minimum(np.exp(log_s + z * std_err), 1.0)
        log_s = np.log(np.where((surv == 0) | (surv == 1), np.nan, surv))
        half = z * std_err / log_s
        log_cumhaz = np.log(-log_s)
        return np.exp(-np.exp(log_cumhaz - half)), np.exp(-np.exp(log_cumhaz + half))


def _first_below_half(rows: _Rows, y: FloatArray, n_blocks: int) -> FloatArray:
    """R's ``minmin``: the first time ``y`` is at most 1/2; at exactly 1/2, the midpoint to the next drop."""
    out = np.full(n_blocks, np.nan)
    candidates = np.flatnonzero(~np.isnan(y) & (y < 0.5 + _TOLERANCE))
    if candidates.size == 0:
        return out
    candidate_blocks = rows.block[candidates]  # sorted: the first candidate of each block starts a run
    first = np.flatnonzero(np.concatenate([[True], candidate_blocks[1:] != candidate_blocks[:-1]]))
    blocks, at = candidate_blocks[first], candidates[first]
    out[blocks] = rows.time[at]
    for block, j in zip(blocks, at, strict=True):
        if abs(y[j] - 0.5) < _TOLERANCE:  # a plateau at exactly 1/2: rare, so a loop is fine
            later = np.flatnonzero(y[j + 1 : rows.block_stop[j]] < y[j])
            if later.size:
                out[block] = (rows.time[j] + rows.time[j + 1 + later[0]]) / 2.0
    return out


def _medians(rows: _Rows, n_blocks: int, lower: FloatArray, upper: FloatArray) -> KmMedians:
    return KmMedians(
        median=_first_below_half(rows, rows.surv, n_blocks),
        lower=_first_below_half(rows, lower, n_blocks),
        upper=_first_below_half(rows, upper, n_blocks),
    )


def compute_km(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike | None = None,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
) -> tuple[KaplanMeier, ...]:
    """Kaplan–Meier curves, one per group in sorted order of the group labels.

    Parameters
    ----------
    time
        ``(N,)`` follow-up times, non-negative.
    event
        ``(N,)`` event indicators: true or 1 for an event, false or 0 for a censoring.
    group
        ``(N,)`` group labels, or ``None`` for one curve.
    conf_type
        Confidence bounds of survival and of the median: ``"log"`` (R's default), ``"log-log"``, ``"plain"``.
    conf_level
        Confidence level.

    Returns
    -------
    tuple of KaplanMeier

    Notes
    -----
    Product-limit estimate with Greenwood's variance of the cumulative hazard, bounds by
    :func:`compute_confint`. The median and its interval are the first times the curve and its bounds are
    at most 1/2; where the curve is exactly 1/2 (within ``sqrt(eps)``) up to the next drop, the midpoint of
    the two times. This is R ``survival::survfit`` (``fit$surv``, ``fit$std.err``, ``fit$lower``,
    ``fit$upper``) and the median of ``print(fit)`` / ``summary(fit)$table`` (``survival:::survmean``).
    The computation is the batch of one of :func:`compute_km_median_batch`.
    """
    others = [] if group is None else [("group", group)]
    check_survival_data(time, event, *others)
    t = np.asarray(time, dtype=np.float64)[None, :]
    e = np.asarray(event).astype(bool)[None, :]
    levels: list[Any]
    if group is None:
        levels, codes = [None], np.zeros(t.shape, dtype=np.int64)
    else:
        levels, codes = encode(np.asarray(group)[None, :], "group")
    rows, n_blocks = _km_rows(t, e, codes, np.ones(t.shape, dtype=bool))
    lower, upper = compute_confint(rows.surv, rows.std_err, conf_type, conf_level)
    medians = _medians(rows, n_blocks, lower, upper)
    bounds = np.searchsorted(rows.block, np.arange(len(levels) + 1)).tolist()  # blocks are sorted
    curves = []
    for k, level in enumerate(levels):
        sel = slice(bounds[k], bounds[k + 1])
        curves.append(
            KaplanMeier(
                group=level,
                time=rows.time[sel],
                n_risk=rows.n_risk[sel],
                n_event=rows.n_event[sel],
                n_censor=rows.n_censor[sel],
                surv=rows.surv[sel],
                std_err=rows.std_err[sel],
                lower=lower[sel],
                upper=upper[sel],
                n=int(rows.n_risk[bounds[k]]),
                events=int(rows.n_event[sel].sum()),
                median=float(medians.median[k]),
                median_lower=float(medians.lower[k]),
                median_upper=float(medians.upper[k]),
                conf_type=conf_type,
                conf_level=conf_level,
            )
        )
    return tuple(curves)


def compute_km_median_batch(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
) -> KmMedians:
    """Kaplan–Meier medians of many simulated trials at once.

    Parameters
    ----------
    time, event
        ``(R, N)`` follow-up times and event indicators of ``R`` replicates of up to ``N`` subjects.
    group
        ``(R, N)`` integer group codes ``0 .. K - 1`` (e.g. the arm), or ``None`` for one group.
    mask
        ``(R, N)`` true for the subjects that exist in each replicate (all when ``None``).
    conf_type, conf_level
        As for :func:`compute_km`.

    Returns
    -------
    KmMedians
        ``(R, K)`` medians and their confidence bounds, ``nan`` where not reached or the group is empty.

    Notes
    -----
    The same computation as :func:`compute_km` (R ``survival::survfit`` and ``survival:::survmean``),
    vectorised: one sort per replicate, cumulative sums within each (replicate, group) block.
    """
    t = np.asarray(time, dtype=np.float64)
    m = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    g = np.zeros(t.shape, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    check_survival_data(np.where(m, t, 0.0), event, ("group", g), ("mask", m))
    if t.ndim != 2:
        raise InputError.single("STAT-004", "time", f"expected a (replicates, subjects) array, got {t.shape}")
    rows, n_groups = _km_rows(t, np.asarray(event).astype(bool), g, m)
    lower, upper = compute_confint(rows.surv, rows.std_err, conf_type, conf_level)
    medians = _medians(rows, t.shape[0] * n_groups, lower, upper)
    shape = (t.shape[0], n_groups)
    return KmMedians(
        median=medians.median.reshape(shape),
        lower=medians.lower.reshape(shape),
        upper=medians.upper.reshape(shape),
    )


def compute_km_at(curve: KaplanMeier, times: ArrayLike) -> SurvivalAt:
    """Survival, its standard error and bounds at given times.

    Parameters
    ----------
    curve
        A curve from :func:`compute_km`.
    times
        Times to read the curve at.

    Returns
    -------
    SurvivalAt
        Values at the last curve time at or before each time (survival and bounds 1 before the first);
        ``nan`` after the last observed time, where the curve is not defined.

    Notes
    -----
    As R ``summary(survfit(...), times = times)`` (``extend = FALSE``), which drops times after the last
    observation.
    """
    at = np.asarray(times, dtype=np.float64)
    index = np.searchsorted(curve.time, at, side="right") - 1
    before = index < 0
    after = at > curve.time[-1]
    pick = np.clip(index, 0, None)

    def read(values: FloatArray, start: float) -> FloatArray:
        read_off: FloatArray = np.where(after, np.nan, np.where(before, start, values[pick]))
        return read_off

    surv = read(curve.surv, 1.0)
    return SurvivalAt(
        time=at,
        surv=surv,
        std_err=surv * read(curve.std_err, 0.0),
        lower=read(curve.lower, 1.0),
        upper=read(curve.upper, 1.0),
    )


def compute_rmst(curve: KaplanMeier, tau: float) -> Rmst:
    """Restricted mean survival time up to ``tau``, the area under the curve, and its standard error.

    Parameters
    ----------
    curve
        A curve from :func:`compute_km`.
    tau
        Truncation time, positive; after the last observed time the curve is carried forward.

    Returns
    -------
    Rmst

    Notes
    -----
    Variance ``sum_i A_i^2 d_i / (n_i (n_i - d_i))`` over the curve times ``t_i <= tau``, where ``A_i`` is
    the area under the curve between ``t_i`` and ``tau`` (terms with ``n_i = d_i`` are zero). Matches the
    ``rmean`` and ``se(rmean)`` of R ``print(survfit(...), rmean = tau)`` (``survival:::survmean``) and
    ``survRM2::rmst2``.
    """
    if not tau > 0:
        raise InputError.single("STAT-005", "tau", "expected a positive truncation time", value=tau)
    keep = curve.time <= tau
    times = np.append(curve.time[keep], tau)
    heights = np.concatenate([[1.0], curve.surv[keep]])
    rectangles = np.diff(np.concatenate([[0.0], times])) * heights
    d = curve.n_event[keep]
    n = curve.n_risk[keep]
    hazard = np.where(n == d, 0.0, d / (n * np.where(n == d, 1, n - d)))
    area_after = np.cumsum(rectangles[:0:-1])[::-1]
    return Rmst(
        tau=float(tau), estimate=float(rectangles.sum()), se=float(np.sqrt(np.sum(area_after**2 * hazard)))
    )


def compute_rmst_difference(
    first: KaplanMeier, second: KaplanMeier, tau: float, *, conf_level: float = 0.95
) -> RmstDifference:
    """Difference of restricted mean survival times between two arms (first minus second).

    Parameters
    ----------
    first, second
        Curves from :func:`compute_km`, e.g. experimental and control arm.
    tau
        Common truncation time.
    conf_level
        Confidence level of the interval.

    Returns
    -------
    RmstDifference

    Notes
    -----
    Independent arms: the variance is the sum of the variances of :func:`compute_rmst`; Wald interval and
    two-sided p-value, as the "RMST (arm=1)-(arm=0)" row of R ``survRM2::rmst2``.
    """
    check_conf_level(conf_level)
    a = compute_rmst(first, tau)
    b = compute_rmst(second, tau)
    estimate = a.estimate - b.estimate
    se = float(np.hypot(a.se, b.se))
    z = float(ndtri(1.0 - (1.0 - conf_level) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = float(2.0 * ndtr(-abs(estimate) / se)) if se > 0 else float("nan")
    return RmstDifference(
        tau=float(tau), estimate=estimate, se=se, lower=estimate - z * se, upper=estimate + z * se, p=p
    )
