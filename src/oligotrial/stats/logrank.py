"""The log-rank test, unstratified and stratified, for one trial or a batch of simulated trials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from oligotrial.errors import InputError
from oligotrial.stats._riskset import BoolArray, FloatArray, IntArray, run_by_blocks, sort_keys
from oligotrial.stats._validation import check_survival_data, encode

__all__ = [
    "LogRank",
    "LogRankBatch",
    "compute_logrank",
    "compute_logrank_batch",
]


@dataclass(frozen=True)
class LogRank:
    """Log-rank test of one trial.

    Attributes
    ----------
    chisq, df, p
        Chi-square statistic, degrees of freedom (groups with expected events, minus one) and p-value
        (``nan`` when there is nothing to compare, ``df == 0``).
    groups
        Group labels in sorted order; ``observed``, ``expected`` and ``variance`` follow it.
    observed, expected
        Events observed and expected under the null, summed over strata.
    variance
        Covariance matrix of ``observed - expected``.
    """

    chisq: float
    df: int
    p: float
    groups: tuple[Any, ...]
    observed: FloatArray
    expected: FloatArray
    variance: FloatArray


@dataclass(frozen=True)
class LogRankBatch:
    """Log-rank tests of a batch: ``chisq``, ``df``, ``p`` of shape ``(R,)``, ``observed`` and ``expected``
    of shape ``(R, K)``."""

    chisq: FloatArray
    df: IntArray
    p: FloatArray
    observed: FloatArray
    expected: FloatArray


def _logrank(
    time: FloatArray, is_event: BoolArray, group: IntArray, stratum: IntArray, mask: BoolArray, n_groups: int
) -> tuple[LogRankBatch, FloatArray]:
    lowest = group.min(initial=0) if mask.all() else np.min(group, where=mask, initial=0)
    if lowest >= 0:  # every subject is in one of the groups: the groups sort along in the key, no gather
        keys = sort_keys(time, is_event, stratum, mask, label=group, n_labels=n_groups, is_order_needed=False)
        assert keys.label is not None
        member = keys.label
    else:
        keys = sort_keys(time, is_event, stratum, mask)
        assert keys.order is not None
        member = np.take_along_axis(np.where(mask, group, -1), keys.order, axis=1)
    from oligotrial.stats._kernels import accumulate_logrank, find_blocks  # compiled on first use

    censored_shift = np.uint64(keys.censored_shift)
    observed, expected, variance = run_by_blocks(
        lambda blocks: accumulate_logrank(
            keys.key, keys.is_group_start, member, blocks, censored_shift, time.shape[0], n_groups
        ),
        find_blocks(keys.key, keys.n_in_sample, np.uint64(keys.code_shift)),
    )
    diff = observed - expected
    chisq = np.einsum("rk,rkl,rl->r", diff, np.linalg.pinv(variance, rcond=1e-10, hermitian=True), diff)
    df = np.maximum(np.count_nonzero(expected > 0, axis=1) - 1, 0)
    p = np.where(df > 0, chi2.sf(chisq, np.maximum(df, 1)), np.nan)
    return LogRankBatch(chisq=chisq, df=df, p=p, observed=observed, expected=expected), variance


def compute_logrank(
    time: ArrayLike, event: ArrayLike, group: ArrayLike, strata: ArrayLike | None = None
) -> LogRank:
    """Log-rank test of equal survival in two or more groups, optionally stratified.

    Parameters
    ----------
    time
        ``(N,)`` follow-up times.
    event
        ``(N,)`` event indicators (true or 1 for an event).
    group
        ``(N,)`` group labels (e.g. the arm); at least two distinct values.
    strata
        ``(N,)`` stratum labels, or ``None``.

    Returns
    -------
    LogRank

    Raises
    ------
    InputError
        Bad times or events (``STAT-001`` to ``STAT-004``), fewer than two groups (``STAT-006``).

    Notes
    -----
    At each distinct event time of each stratum, the hypergeometric expectation ``d n_k / n`` and
    covariance ``d (n - d) / (n^2 (n - 1)) n_k (δ_kl n - n_l)``, summed over times and strata; the
    statistic is ``(O - E)' V^- (O - E)`` on ``df`` = groups with expected events minus one. Matches R
    ``survival::survdiff(Surv(time, event) ~ group + strata(s))`` (``rho = 0``). With no events at all the
    statistic is 0 on 0 degrees of freedom and the p-value is ``nan``. The batch of one of
    :func:`compute_logrank_batch`.
    """
    others: list[tuple[str, ArrayLike]] = [("group", group)]
    if strata is not None:
        others.append(("strata", strata))
    check_survival_data(time, event, *others)
    t = np.asarray(time, dtype=np.float64)[None, :]
    levels, codes = encode(np.asarray(group)[None, :], "group")
    if len(levels) < 2:
        raise InputError.single(
            "STAT-006", "group", "the log-rank test compares at least two groups; got one", value=levels
        )
    stratum = (
        np.zeros(t.shape, dtype=np.int64)
        if strata is None
        else encode(np.asarray(strata)[None, :], "strata")[1]
    )
    batch, variance = _logrank(
        t, np.asarray(event).astype(bool)[None, :], codes, stratum, np.ones(t.shape, dtype=bool), len(levels)
    )
    return LogRank(
        chisq=float(batch.chisq[0]),
        df=int(batch.df[0]),
        p=float(batch.p[0]),
        groups=tuple(levels),
        observed=batch.observed[0],
        expected=batch.expected[0],
        variance=variance[0],
    )


def compute_logrank_batch(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    mask: ArrayLike | None = None,
    strata: ArrayLike | None = None,
) -> LogRankBatch:
    """Log-rank tests of many simulated trials at once.

    Parameters
    ----------
    time, event
        ``(R, N)`` follow-up times and event indicators.
    group
        ``(R, N)`` integer group codes ``0 .. K - 1`` (K is the largest code plus one).
    mask
        ``(R, N)`` true for the subjects that exist in each replicate (all when ``None``).
    strata
        ``(R, N)`` integer stratum codes, or ``None``.

    Returns
    -------
    LogRankBatch

    Notes
    -----
    The computation of :func:`compute_logrank` (R ``survival::survdiff``), vectorised over replicates.
    """
    t = np.asarray(time, dtype=np.float64)
    m = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    g = np.asarray(group, dtype=np.int64)
    s = np.zeros(t.shape, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    check_survival_data(np.where(m, t, 0.0), event, ("group", g), ("mask", m), ("strata", s))
    if t.ndim != 2:
        raise InputError.single("STAT-004", "time", f"expected a (replicates, subjects) array, got {t.shape}")
    n_groups = int(g[m].max()) + 1 if m.any() else 1
    batch, _ = _logrank(t, np.asarray(event).astype(bool), g, s, m, n_groups)
    return batch
